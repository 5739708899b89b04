"""What the cascade remembers of a conversation: its recent turns, when it last escalated.

One `DialogueState` per session (the microphone, a chat, each satellite), kept by `Histories`;
small and in memory. The recent turns go to the cloud LLM as context, so one session's history
must never reach another's escalation. Turns older than `idle_seconds` are forgotten, so an
escalated request never drags along a conversation from an hour ago.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from dataclasses import dataclass

_CORRECTION = re.compile(
    r"^\s*(?:no|nope|not that|wrong)\b[\s,.!-]*(?:i\s+(?:meant|mean|said)|i\s+wanted(?:\s+to)?|actually)\b[\s,:-]*(?P<rest>.+)$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class DialogueTurn:
    text: str  # what the user said
    reply: str  # what the speaker answered
    intent: str
    route: str  # local | cloud | offline
    at: float  # time.monotonic()


def parse_correction(text: str) -> str | None:
    """'No, I meant set a timer' -> 'set a timer'; None when the text is not a correction."""
    match = _CORRECTION.match(text)
    if match is None:
        return None
    rest = match.group("rest").strip(" .!?")
    return rest or None


class DialogueState:
    def __init__(self, max_turns: int = 8, idle_seconds: float = 300.0, clock=time.monotonic) -> None:
        self._turns: deque[DialogueTurn] = deque(maxlen=max(1, max_turns))
        self._idle_seconds = idle_seconds
        self._clock = clock
        self._lock = threading.Lock()  # the bridge may run turns of one pipeline on several threads

    def now(self) -> float:
        return self._clock()

    def add(self, text: str, reply: str, intent: str, route: str) -> None:
        with self._lock:
            self._turns.append(DialogueTurn(text, reply, intent, route, self._clock()))

    def recent(self, now: float | None = None) -> list[DialogueTurn]:
        now = self._clock() if now is None else now
        kept: list[DialogueTurn] = []
        with self._lock:
            turns = list(self._turns)
        for turn in reversed(turns):
            if now - turn.at > self._idle_seconds:
                break
            kept.append(turn)
            now = turn.at  # idle time is measured between turns
        return kept[::-1]

    def last(self) -> DialogueTurn | None:
        recent = self.recent()
        return recent[-1] if recent else None

    def seconds_since_escalation(self, now: float | None = None) -> float | None:
        now = self._clock() if now is None else now
        for turn in reversed(self.recent(now)):
            if turn.route != "local":
                return now - turn.at
        return None

    def context_messages(self, turns: int) -> list[dict[str, str]]:
        """The last `turns` exchanges as chat messages (oldest first)."""
        if turns <= 0:
            return []
        messages: list[dict[str, str]] = []
        for turn in self.recent()[-turns:]:
            messages += [{"role": "user", "content": turn.text}, {"role": "assistant", "content": turn.reply}]
        return messages


class Histories:
    """One `DialogueState` per session key; the least recently used is forgotten past `max_sessions`."""

    def __init__(self, idle_seconds: float = 300.0, max_sessions: int = 256, clock=time.monotonic) -> None:
        self._idle_seconds = idle_seconds
        self._max = max_sessions
        self._clock = clock
        self._states: dict[str, DialogueState] = {}
        self._lock = threading.Lock()

    def get(self, session: str) -> DialogueState:
        with self._lock:
            state = self._states.pop(session, None) or DialogueState(idle_seconds=self._idle_seconds, clock=self._clock)
            self._states[session] = state  # most recent last
            while len(self._states) > self._max:
                self._states.pop(next(iter(self._states)))
            return state
