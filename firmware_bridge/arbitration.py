"""Wake-word arbitration: when satellites in one room hear the same request, one answers.

Two requests are "the same" when they come from satellites in the same room and start (their
run-pipeline arrives) within `window_seconds` of each other. Each satellite claims the request
when its audio ends, with the request's RMS level; the group is decided once every member has
claimed, or `window_seconds` after the first claim, whichever is first. The loudest claim
wins (the nearest satellite, by signal level); ties go to the earliest start. A member that
claims after the decision, or whose satellite disconnects, does not answer. A satellite with
no room, or alone in its room, is never delayed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)


@dataclass
class _Member:
    started: float
    level: float | None = None
    verdict: asyncio.Future[bool] | None = None


@dataclass
class _Group:
    room: str
    first_start: float
    members: dict[Hashable, _Member] = field(default_factory=dict)
    decided: bool = False
    timer: asyncio.TimerHandle | None = None


class RoomArbiter:
    def __init__(self, window_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_seconds = window_seconds
        self._clock = clock
        self._groups: dict[Hashable, _Group] = {}  # member key -> its group
        self._open: dict[str, _Group] = {}  # room -> the group still taking new members
        self.decisions: list[tuple[str, Hashable, dict[Hashable, float]]] = []  # (room, winner, levels), latest last

    def start(self, key: Hashable, room: str | None) -> None:
        """A satellite began streaming a request (its wake word fired)."""
        self.cancel(key)
        if not room:
            return
        now = self._clock()
        group = self._open.get(room)
        if group is None or group.decided or now - group.first_start > self.window_seconds:
            group = _Group(room, now)
            self._open[room] = group
        group.members[key] = _Member(started=now)
        self._groups[key] = group

    async def claim(self, key: Hashable, level: float) -> bool:
        """The request's audio ended at `level` (dBFS): True when this satellite should answer."""
        group = self._groups.get(key)
        if group is None:
            return True  # no room, or never started: nobody to compete with
        member = group.members[key]
        if group.decided:
            self._forget(key)
            return False
        member.level = level
        member.verdict = asyncio.get_running_loop().create_future()
        if all(other.level is not None for other in group.members.values()):
            self._decide(group)
        elif group.timer is None:
            group.timer = asyncio.get_running_loop().call_later(self.window_seconds, self._decide, group)
        try:
            return await member.verdict
        finally:
            self._forget(key)

    def cancel(self, key: Hashable) -> None:
        """The satellite left (disconnected, or started over): it no longer competes."""
        group = self._groups.get(key)
        if group is None:
            return
        member = group.members.pop(key, None)
        self._groups.pop(key, None)
        if member is not None and member.verdict is not None and not member.verdict.done():
            member.verdict.set_result(False)
        if not group.decided and group.members and all(m.level is not None for m in group.members.values()):
            self._decide(group)

    def _decide(self, group: _Group) -> None:
        if group.decided:
            return
        group.decided = True
        if group.timer is not None:
            group.timer.cancel()
        claimed = {key: member for key, member in group.members.items() if member.level is not None}
        if not claimed:
            return
        winner = max(claimed, key=lambda key: (claimed[key].level, -claimed[key].started))
        levels = {key: round(member.level, 2) for key, member in claimed.items()}
        self.decisions.append((group.room, winner, levels))
        del self.decisions[:-100]
        if len(claimed) > 1:
            logger.info("room %s: %s answers (levels dBFS %s)", group.room, winner, levels)
        for key, member in claimed.items():
            if member.verdict is not None and not member.verdict.done():
                member.verdict.set_result(key == winner)

    def _forget(self, key: Hashable) -> None:
        group = self._groups.pop(key, None)
        if group is not None and group.decided:
            group.members.pop(key, None)
            if not group.members and self._open.get(group.room) is group:
                del self._open[group.room]

    @property
    def pending(self) -> int:
        """Requests started and not yet answered or dropped (for tests and the status log)."""
        return len(self._groups)
