"""What a skill is: it takes a recognised intent and answers it.

A skill declares which intents it handles and returns a `SkillReply` (what to say, an optional
card for a screen, an optional follow-up question). Skills get their settings and a clock in
their constructor, so tests can run them at a fixed time against a throw-away database.

A skill may also carry a `spec` (edge/skills/spec.py): its intents declared in YAML with sample
sentences, slot types and the question to ask for each required slot. The dialogue layer
(edge/dialogue) uses it to fill slots over several turns before the skill is called, and
`collect_skill_examples()` turns it into training data for the intent model.

A reply may name what it created or talked about (`SkillReply.mentions`: the timer it set, the
item it added, the city it answered for). The dialogue keeps them per session, so that "cancel
it", "how long is left on the egg timer" or "and butter too" reach the right skill with the
right thing (`SkillRequest.target`: the mention's `ref`).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from edge.core.errors import EdgeError

if TYPE_CHECKING:
    from edge.skills.spec import SkillSpec


class SkillError(EdgeError):
    """A skill could not answer; the message is safe to log, not necessarily to speak."""


# What a user may do to a mentioned thing ("cancel it", "how long is left?", "make it later"), by verb.
ACTIONS = ("cancel", "query", "change", "on", "off")


@dataclass(frozen=True)
class Mention:
    """Something a reply created or talked about that the user may refer back to.

        Mention("timer", ref="12", name="egg timer", actions={"cancel": "alarm_remove", "query": "alarm_query",
                                                               "change": "alarm_set"})
    """

    kind: str  # what it is, as a user calls it: timer, alarm, reminder, item, place, room, hotel…
    ref: str = ""  # the skill's own id for it (a row id); "" for a plain value such as a place
    name: str = ""  # what the user may call it ("egg timer", "milk", "london"); "" none
    actions: dict[str, str] = field(default_factory=dict)  # verb (one of ACTIONS) -> the intent that does it
    slots: dict[str, str] = field(default_factory=dict)  # slot name -> words, for a follow-up that reuses them


@dataclass(frozen=True)
class SkillRequest:
    intent: str
    text: str  # normalised utterance the intent model saw (lower case, numbers as words)
    raw_text: str  # what the user said, as transcribed or typed
    slots: dict[str, str] = field(default_factory=dict)  # slot type -> value, from the intent model
    now: datetime | None = None  # time of the request (timezone-aware); None means "now"
    values: dict[str, Any] = field(default_factory=dict)  # slot name -> parsed value (declared skills)
    user: str = "default"  # whose facts, lists and reminders
    confirmed: bool = False  # the user said yes to the action this skill proposed (costs money)
    state: dict[str, Any] = field(default_factory=dict)  # what the skill's previous reply kept (`SkillReply.state`)
    session: str = ""  # the conversation the request came from (a satellite's name, "local", "chat"…)
    area: str = ""  # the room it came from, when the front end knows it ("" unknown)
    target: str = ""  # the `Mention.ref` the user referred to ("cancel it", "the egg timer"); "" none


@dataclass(frozen=True)
class SkillReply:
    text: str  # what the speaker says
    card: dict[str, Any] | None = None  # rich answer for a screen (see edge/core/events.py Card)
    skill: str = ""  # name of the skill that answered; filled in by the registry
    ask_slot: str = ""  # the reply asks for this slot; the next utterance answers it (no wake word needed)
    confirm: bool = False  # the reply proposes an action and asks yes/no; "yes" calls again with confirmed=True
    state: dict[str, Any] = field(default_factory=dict)  # kept for the next call of the same request (e.g. the offer)
    error: str = ""  # set by the registry when the skill failed or timed out (for the trace, not spoken)
    mentions: tuple[Mention, ...] = ()  # what this reply created or talked about, most prominent first

    @property
    def expects_follow_up(self) -> bool:
        """The reply asked a question: the live loop should listen without waiting for the wake word."""
        return bool(self.ask_slot) or self.confirm


class Skill(abc.ABC):
    """Base class for built-in and third-party skills."""

    name: ClassVar[str]
    intents: ClassVar[tuple[str, ...]]
    spec: SkillSpec | None = None  # declared intents (sentences, slots); None: the intent model alone routes here

    def available(self, intent: str) -> bool:
        """False when the skill has nothing useful to say right now (e.g. no provider configured), so a
        sentence match does not take the request away from a better route (the cloud tier)."""
        return True

    def slot_words(self, intent: str, text: str) -> dict[str, str]:
        """Slot words the skill can read from the normalised text itself, for a request that reached it
        through the intent model (whose slot names do not cover the skill's own slots). Default: none."""
        return {}

    def accepts(self, intent: str, values: dict[str, Any]) -> bool:
        """Whether a sentence match with these slot values (name -> SlotValue) is really for this skill;
        False lets the intent model decide instead. Default: `available(intent)`."""
        return self.available(intent)

    @abc.abstractmethod
    def handle(self, request: SkillRequest) -> SkillReply:
        """Answer one request for one of `intents`. Raise SkillError when it cannot."""

    def close(self) -> None:  # noqa: B027 (optional hook, not abstract)
        """Release files and connections; called once when the runtime stops."""
