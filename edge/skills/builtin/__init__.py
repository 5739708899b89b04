"""The skills that ship with the speaker: clock, calculator, alarms and timers, reminders, lists,
facts, units, volume, smart home, hotels."""

from __future__ import annotations

from edge.core.settings import SkillSettings
from edge.skills.base import Skill
from edge.skills.builtin.alarms import AlarmSkill
from edge.skills.builtin.calculator import CalculatorSkill
from edge.skills.builtin.clock import ClockSkill
from edge.skills.phrasing import Clock, resolve_timezone, system_clock


def builtin_skills(settings: SkillSettings | None = None, clock: Clock | None = None) -> list[Skill]:
    """The calculator, clock and alarm skills, sharing one clock.

    `clock` is a zero-argument callable returning an aware datetime; by default the current
    time in `settings.timezone` (the machine's zone when empty).
    """
    settings = settings or SkillSettings()
    clock = clock or system_clock(resolve_timezone(settings.timezone))
    return [CalculatorSkill(), ClockSkill(settings, clock), AlarmSkill(settings, clock)]
