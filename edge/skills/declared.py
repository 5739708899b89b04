"""Skills whose intents are declared in YAML, built-in or third-party.

    class WeatherSkill(DeclaredSkill):
        spec_file = "specs/weather.yaml"          # beside this module

        def on_weather_query(self, request: SkillRequest) -> SkillReply | str:
            place = request.values["place"]        # parsed, required slots are always there
            ...

A declared skill gets a `SkillContext` (settings, clock, the shared database and memory, the
runtime's music player when it has one) in its constructor. The dialogue layer fills the required
slots the YAML names (asking the user for each missing one) before `on_<intent>` is called; `request.values` holds the parsed values and
`request.slots` the words they came from. Returning a plain string is the same as
`SkillReply(text=...)`.
"""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from edge.core.settings import Settings
from edge.core.stages import MediaPlayer
from edge.skills.base import Skill, SkillError, SkillReply, SkillRequest
from edge.skills.memory import Memory
from edge.skills.phrasing import Clock
from edge.skills.spec import SkillSpec, SkillSpecError, load_skill_spec
from edge.skills.store import SkillStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SkillContext:
    """What every skill may use; one per runtime, shared by all skills."""

    settings: Settings
    clock: Clock
    store: SkillStore
    memory: Memory
    media: MediaPlayer | None = None  # the runtime's music player (edge/audio/player.py); None: this front end has none


def spec_path(skill_class: type) -> Path:
    """The YAML declaration of a DeclaredSkill subclass (its `spec_file`, beside its module)."""
    relative = getattr(skill_class, "spec_file", "")
    if not relative:
        raise SkillSpecError(f"{skill_class.__module__}.{skill_class.__qualname__} has no spec_file; set it to the "
                             "YAML file that declares its intents, e.g. spec_file = 'skill.yaml'")
    return Path(inspect.getfile(skill_class)).resolve().parent / relative


def spec_of(skill_class: type) -> SkillSpec:
    return load_skill_spec(spec_path(skill_class))


class DeclaredSkill(Skill):
    """Dispatches each declared intent to the method `on_<intent>`."""

    spec_file: ClassVar[str] = ""  # YAML path relative to the subclass's module

    def __init__(self, context: SkillContext) -> None:
        self.context = context
        self.spec = spec_of(type(self))
        self.name = self.spec.skill
        self.intents = tuple(self.spec.intents)
        missing = [intent for intent in self.intents if not callable(getattr(self, f"on_{intent}", None))]
        if missing:
            raise SkillSpecError(f"{self.spec.intents[missing[0]].source}: {type(self).__name__} declares intent "
                                 f"{missing[0]!r} but has no method on_{missing[0]}(request)")

    def handle(self, request: SkillRequest) -> SkillReply:
        handler = getattr(self, f"on_{request.intent}", None)
        if handler is None or request.intent not in self.intents:
            raise SkillError(f"the {self.name} skill does not handle intent {request.intent!r}")
        reply = handler(request)
        return SkillReply(text=reply) if isinstance(reply, str) else reply

    @property
    def memory(self) -> Memory:
        return self.context.memory

    def now(self, request: SkillRequest):
        from edge.skills.phrasing import request_time

        return request_time(request, self.context.clock)
