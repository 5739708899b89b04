"""Built-in skills and the registry that routes a recognised intent to one of them.

    registry = SkillRegistry(builtin_skills(settings.skills))
    reply = registry.handle(SkillRequest(intent="qa_maths", text=..., raw_text=...))
    ...
    registry.close()

`handle` never raises: an intent without a skill gets a fallback reply, and a skill that fails
is logged and answered with a spoken apology, so one broken skill cannot stop the speaker.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable

from edge.settings import SkillSettings
from edge.skills.alarms import AlarmSkill
from edge.skills.base import Skill, SkillError, SkillReply, SkillRequest
from edge.skills.calculator import CalculatorSkill
from edge.skills.clock import Clock, ClockSkill, resolve_timezone, system_clock
from edge.skills.store import SkillStore, StoreError

__all__ = [
    "AlarmSkill",
    "CalculatorSkill",
    "Clock",
    "ClockSkill",
    "DuplicateIntentError",
    "FALLBACK_SKILL",
    "Skill",
    "SkillError",
    "SkillRegistry",
    "SkillReply",
    "SkillRequest",
    "SkillStore",
    "StoreError",
    "builtin_skills",
]

logger = logging.getLogger(__name__)

FALLBACK_SKILL = "fallback"  # the `skill` of replies no skill gave
OUT_OF_SCOPE = "out_of_scope"
_NO_SKILL_TEXT = "Sorry, I can't do that yet."
_OUT_OF_SCOPE_TEXT = "Sorry, I don't know how to help with that."


class DuplicateIntentError(ValueError):
    """Two skills claim the same intent."""


class SkillRegistry:
    """Maps each intent to the one skill that answers it."""

    def __init__(self, skills: Iterable[Skill] = ()) -> None:
        self._skills: list[Skill] = []
        self._by_intent: dict[str, Skill] = {}
        for skill in skills:
            self.register(skill)

    def register(self, skill: Skill) -> None:
        """Add a skill; raises DuplicateIntentError if another skill has one of its intents."""
        for intent in skill.intents:
            if intent in self._by_intent:
                raise DuplicateIntentError(
                    f"skills {self._by_intent[intent].name!r} and {skill.name!r} both handle "
                    f"intent {intent!r}; remove one of them"
                )
        self._skills.append(skill)
        self._by_intent.update({intent: skill for intent in skill.intents})

    @property
    def skills(self) -> tuple[Skill, ...]:
        return tuple(self._skills)

    @property
    def intents(self) -> frozenset[str]:
        return frozenset(self._by_intent)

    def skill_for(self, intent: str) -> Skill | None:
        return self._by_intent.get(intent)

    def handle(self, request: SkillRequest) -> SkillReply:
        """Answer a request. Never raises: failures become a spoken apology."""
        skill = self._by_intent.get(request.intent)
        if skill is None:
            text = _OUT_OF_SCOPE_TEXT if request.intent == OUT_OF_SCOPE else _NO_SKILL_TEXT
            return SkillReply(text=text, skill=FALLBACK_SKILL)
        try:
            reply = skill.handle(request)
            if not isinstance(reply, SkillReply):
                raise SkillError(f"skill {skill.name!r} returned {type(reply).__name__}, not a SkillReply")
        except Exception:
            logger.exception("skill %s failed on intent %s (%r)", skill.name, request.intent, request.text)
            return SkillReply(text=f"Sorry, something went wrong with the {skill.name} skill.", skill=skill.name)
        return dataclasses.replace(reply, skill=skill.name)

    def close(self) -> None:
        """Close every skill once; a failing close is logged and the others still close."""
        skills, self._skills, self._by_intent = self._skills, [], {}
        for skill in skills:
            try:
                skill.close()
            except Exception:
                logger.exception("closing skill %s failed", skill.name)

    def __enter__(self) -> SkillRegistry:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def builtin_skills(settings: SkillSettings | None = None, clock: Clock | None = None) -> list[Skill]:
    """The calculator, clock and alarm skills, sharing one clock.

    `clock` is a zero-argument callable returning an aware datetime; by default the current
    time in `settings.timezone` (the machine's zone when empty).
    """
    settings = settings or SkillSettings()
    clock = clock or system_clock(resolve_timezone(settings.timezone))
    return [CalculatorSkill(), ClockSkill(settings, clock), AlarmSkill(settings, clock)]
