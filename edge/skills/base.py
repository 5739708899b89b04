"""What a skill is: it takes a recognised intent and answers it.

A skill declares which intents it handles and returns a `SkillReply` (what to say, an optional
card for a screen). Skills get their settings and a clock in their constructor, so tests can
run them at a fixed time against a throw-away database.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar


class SkillError(Exception):
    """A skill could not answer; the message is safe to log, not necessarily to speak."""


@dataclass(frozen=True)
class SkillRequest:
    intent: str
    text: str  # normalised utterance the intent model saw (lower case, numbers as words)
    raw_text: str  # what the user said, as transcribed or typed
    slots: dict[str, str] = field(default_factory=dict)  # slot type -> value, from the intent model
    now: datetime | None = None  # time of the request (timezone-aware); None means "now"


@dataclass(frozen=True)
class SkillReply:
    text: str  # what the speaker says
    card: dict[str, Any] | None = None  # rich answer for a screen (see edge/events.py Card)
    skill: str = ""  # name of the skill that answered; filled in by the registry


class Skill(abc.ABC):
    """Base class for built-in and third-party skills."""

    name: ClassVar[str]
    intents: ClassVar[tuple[str, ...]]

    @abc.abstractmethod
    def handle(self, request: SkillRequest) -> SkillReply:
        """Answer one request for one of `intents`. Raise SkillError when it cannot."""

    def close(self) -> None:  # noqa: B027 (optional hook, not abstract)
        """Release files and connections; called once when the runtime stops."""
