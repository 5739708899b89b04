"""The speaker's volume (`audio_volume_up`, `_down`, `_mute`, and the declared `audio_volume_set`).

The level (0-10) is kept in the database so it survives a restart. It sets the gain of the
runtime's music player (`SkillContext.media`: edge/audio/player.py, 3 dB a step, mute is silence)
when the skill starts and at every change; `on_change` hears about every change too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from edge.skills.base import SkillReply, SkillRequest
from edge.skills.declared import DeclaredSkill, SkillContext

MAX_LEVEL = 10
DEFAULT_LEVEL = 5
_STEP = 1


class VolumeSkill(DeclaredSkill):
    spec_file: ClassVar[str] = "specs/volume.yaml"

    def __init__(self, context: SkillContext, on_change: Callable[[int, bool], None] | None = None) -> None:
        super().__init__(context)
        self.on_change = on_change  # (level, muted)
        if context.media is not None:  # the stored level, from the first note the speaker plays
            context.media.set_volume(self.level(), self.muted())

    def level(self) -> int:
        return int(self.memory.state("volume", str(DEFAULT_LEVEL)))

    def muted(self) -> bool:
        return self.memory.state("muted", "0") == "1"

    def on_audio_volume_up(self, request: SkillRequest) -> SkillReply:
        return self._set(self.level() + _amount(request))

    def on_audio_volume_down(self, request: SkillRequest) -> SkillReply:
        return self._set(self.level() - _amount(request))

    def on_audio_volume_mute(self, request: SkillRequest) -> SkillReply:
        unmute = "unmute" in request.text.split()
        self.memory.set_state("muted", "0" if unmute else "1")
        self._notify()
        return SkillReply(f"Unmuted. Volume {self.level()}." if unmute else "Muted.")

    def on_audio_volume_set(self, request: SkillRequest) -> SkillReply:
        level = request.values.get("level")
        if level is None:
            state = " (muted)" if self.muted() else ""
            return SkillReply(f"The volume is {self.level()}{state}.")
        return self._set(int(round(float(level.value))))

    def _set(self, level: int) -> SkillReply:
        before, clamped = self.level(), max(0, min(MAX_LEVEL, level))
        self.memory.set_state("volume", str(clamped))
        self.memory.set_state("muted", "0")
        self._notify()
        if clamped != level and clamped == before:
            return SkillReply(f"The volume is already at its {'highest' if level > MAX_LEVEL else 'lowest'}, {clamped}.")
        return SkillReply(f"Volume {clamped}.")

    def _notify(self) -> None:
        if self.context.media is not None:
            self.context.media.set_volume(self.level(), self.muted())
        if self.on_change is not None:
            self.on_change(self.level(), self.muted())


def _amount(request: SkillRequest) -> int:
    """'by three' from the declared slot, or HWU64's change_amount words, else one step."""
    value = request.values.get("amount")
    if value is not None:
        return max(1, int(round(float(value.value))))
    from edge.core.text.numbers import parse_number_words

    words = request.slots.get("change_amount", "").split()
    found = parse_number_words(words) if words else None
    return max(1, int(found[0])) if found else _STEP
