"""Per-session dialogue state: the request being filled in, and the last one answered.

One `Session` per conversation (a speaker, a satellite, an `edge chat`); small, in memory. A
`Frame` is one request on its way to a skill: its intent, the slot values so far, the slot being
asked for, or the offer waiting for a yes. Frames left unanswered longer than
`dialogue.pending_timeout_seconds` are dropped; the last answered frame is kept for
`dialogue.context_seconds` so that "and tomorrow?" can refer back to it, and so are the things the
last turns created or talked about (`recent`, edge/dialogue/recent.py: "cancel it", "the egg timer").
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edge.dialogue.recent import Entity, Recent
from edge.skills.slots import SlotValue
from edge.skills.spec import IntentSpec


@dataclass
class Frame:
    spec: IntentSpec
    skill: str
    values: dict[str, SlotValue] = field(default_factory=dict)
    pending: str = ""  # the slot just asked for
    confirming: bool = False  # an offer is waiting for yes/no
    state: dict[str, Any] = field(default_factory=dict)  # the skill's `SkillReply.state`
    reprompts: int = 0
    text: str = ""  # the utterance that started it
    updated: float = 0.0  # monotonic seconds
    target: str = ""  # the `Mention.ref` of the thing it acts on ("cancel it"), passed to the skill

    @property
    def intent(self) -> str:
        return self.spec.name

    def missing(self) -> list[str]:
        return [name for name, slot in self.spec.slots.items() if slot.required and name not in self.values]

    def copy_with(self, name: str, value: SlotValue) -> Frame:
        values = {**self.values, name: value}
        return Frame(self.spec, self.skill, values, text=self.text, updated=self.updated, target=self.target)

    def slot_words(self) -> dict[str, str]:
        return {name: value.text for name, value in self.values.items()}


@dataclass
class Session:
    id: str
    area: str = ""  # the room of the front end the session talks through ("" unknown)
    active: Frame | None = None
    last: Frame | None = None  # the last frame the skill answered, for context carry-over
    last_at: float = 0.0
    last_other: tuple[str, str] | None = None  # the last request no declared intent took: (intent, text), for "another one"
    recent: Recent = field(default_factory=Recent)  # what the last turns created or talked about
    turn: int = 0  # turns so far
    answered: bool = True  # the dialogue answered the last turn (False: it went to an LLM)
    dropped: Frame | None = None  # an offer or question that timed out (a late "yes" is told so)
    choice: tuple[str, tuple[Entity, ...], float] | None = None  # "which one?" asked: (verb, the candidates, when)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


class Sessions:
    """Sessions by id; at most `max_sessions`, the least recently used forgotten first."""

    def __init__(self, monotonic: Callable[[], float], max_sessions: int = 256) -> None:
        self._monotonic = monotonic
        self._max = max_sessions
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def get(self, session_id: str) -> Session:
        with self._lock:
            session = self._sessions.pop(session_id, None) or Session(session_id)
            self._sessions[session_id] = session  # most recent last
            while len(self._sessions) > self._max:
                self._sessions.pop(next(iter(self._sessions)))
            return session

    def now(self) -> float:
        return self._monotonic()
