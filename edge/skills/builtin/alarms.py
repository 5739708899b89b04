"""Alarms and timers, kept in the skills' SQLite database.

`AlarmSkill` answers HWU64's `alarm_set`, `alarm_query` and `alarm_remove`. HWU64 has no timer
intent; "set a timer for ten minutes" arrives as `alarm_set` and is stored in the same table
with the label "timer". Nothing here rings an alarm: the runtime reads `upcoming()`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from edge.core.settings import SkillSettings
from edge.skills.base import Skill, SkillError, SkillReply, SkillRequest
from edge.skills.phrasing import (
    Clock,
    describe_day,
    describe_duration,
    describe_time,
    join_words,
    request_time,
    resolve_timezone,
    system_clock,
)
from edge.skills.store import SkillStore
from edge.skills.timeparse import (
    ClockTime,
    DaySpec,
    after,
    apply_time_of_day,
    find_clock_time,
    find_day,
    find_duration,
    next_occurrence,
)

logger = logging.getLogger(__name__)

TIMER_LABEL = "timer"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS alarms (
    id INTEGER PRIMARY KEY,
    fire_at TEXT NOT NULL,  -- ISO 8601 with its UTC offset
    label TEXT NOT NULL,
    created TEXT NOT NULL,
    session TEXT NOT NULL DEFAULT ''  -- the conversation that set it: its alert goes back there
)"""
_ALL_WORDS = ("all", "every", "everything", "alarms", "timers", "both")


@dataclass(frozen=True)
class Alarm:
    id: int
    fire_at: datetime  # timezone-aware
    label: str

    @property
    def is_timer(self) -> bool:
        return self.label == TIMER_LABEL


class AlarmSkill(Skill):
    """Sets, lists and removes alarms and timers; state survives restarts in SQLite."""

    name: ClassVar[str] = "alarms"
    intents: ClassVar[tuple[str, ...]] = ("alarm_set", "alarm_query", "alarm_remove")

    def __init__(
        self,
        settings: SkillSettings | None = None,
        clock: Clock | None = None,
        store: SkillStore | None = None,
    ) -> None:
        settings = settings or SkillSettings()
        self._clock = clock or system_clock(resolve_timezone(settings.timezone))
        self._owns_store = store is None
        self._store = store if store is not None else SkillStore(settings.database_path)
        self._store.execute(_SCHEMA)
        self._store.ensure_column("alarms", "session", "TEXT NOT NULL DEFAULT ''")

    def upcoming(self, now: datetime) -> list[Alarm]:
        """Alarms and timers that fire after `now`, soonest first."""
        rows = self._store.execute("SELECT id, fire_at, label FROM alarms")
        alarms = [Alarm(row["id"], datetime.fromisoformat(row["fire_at"]), row["label"]) for row in rows]
        return sorted((alarm for alarm in alarms if alarm.fire_at > now), key=lambda a: a.fire_at)

    def handle(self, request: SkillRequest) -> SkillReply:
        now = request_time(request, self._clock)
        words = request.text.split()
        if request.intent == "alarm_set":
            return SkillReply(text=self._set(request, words, now))
        if request.intent == "alarm_query":
            return SkillReply(text=self._query(request, words, now))
        if request.intent == "alarm_remove":
            return SkillReply(text=self._remove(request, words, now))
        raise SkillError(f"the alarm skill does not handle intent {request.intent!r}")

    def close(self) -> None:
        if self._owns_store:
            self._store.close()

    def _set(self, request: SkillRequest, words: list[str], now: datetime) -> str:
        if _about_timers(words) or request.slots.get("alarm_type") == TIMER_LABEL:
            duration = find_duration(words)
            if duration is None:
                return "How long should the timer be?"
            self._insert(after(now, duration), TIMER_LABEL, now, request.session)
            return f"Timer set for {describe_duration(duration)}."
        duration = find_duration(words, after=("in", "for"))
        if duration is not None:
            fire_at = after(now, duration)
        else:
            clock = _clock_time(request, words)
            if clock is None:
                return "What time should I set the alarm for?"
            fire_at = next_occurrence(clock, now, _day(request, words, now))
        if any(alarm.fire_at == fire_at for alarm in self.upcoming(now) if not alarm.is_timer):
            return f"You already have an alarm for {describe_time(fire_at, now)}."
        label = request.slots.get("alarm_type") or request.slots.get("event_name") or "alarm"
        self._insert(fire_at, label, now, request.session)
        return f"Alarm set for {describe_time(fire_at, now)}."

    def _query(self, request: SkillRequest, words: list[str], now: datetime) -> str:
        upcoming = self.upcoming(now)
        day = _day(request, words, now)
        if day is not None:
            upcoming = [alarm for alarm in upcoming if _local(alarm, now).date() == day.day]
        kind = TIMER_LABEL if _about_timers(words) else "alarm"
        wanted = [alarm for alarm in upcoming if alarm.is_timer == (kind == TIMER_LABEL)]
        when = "" if day is None else " " + describe_day(day.day, now.date())
        if not wanted:
            answer = f"You have no {kind}s set{when}."
        else:
            answer = f"You have {_count(wanted, kind)}: {_list(wanted, now)}."
        timers = [alarm for alarm in upcoming if alarm.is_timer]
        if kind == "alarm" and timers:
            also = f"{_count(timers, TIMER_LABEL)}: {_list(timers, now)}."
            answer = answer[:-1] + f", but you have {also}" if not wanted else answer + f" You also have {also}"
        return answer

    def _remove(self, request: SkillRequest, words: list[str], now: datetime) -> str:
        kind = TIMER_LABEL if _about_timers(words) else "alarm"
        candidates = [alarm for alarm in self.upcoming(now) if alarm.is_timer == (kind == TIMER_LABEL)]
        clock, day = _clock_time(request, words), _day(request, words, now)
        if not candidates:
            return f"You have no {kind}s to remove."
        if clock is not None:
            chosen = [
                alarm for alarm in candidates
                if clock.matches(_local(alarm, now)) and (day is None or _local(alarm, now).date() == day.day)
            ]
            if not chosen:
                return f"You don't have {'a' if kind == TIMER_LABEL else 'an'} {kind} at {clock.spoken()}."
        elif day is not None:
            chosen = [alarm for alarm in candidates if _local(alarm, now).date() == day.day]
            if not chosen:
                return f"You have no {kind}s {describe_day(day.day, now.date())}."
        elif len(candidates) == 1 or any(word in _ALL_WORDS for word in words):
            chosen = candidates
        else:
            return f"Which {kind} should I remove? You have {_count(candidates, kind)}: {_list(candidates, now)}."
        placeholders = ", ".join("?" for _ in chosen)
        self._store.execute(f"DELETE FROM alarms WHERE id IN ({placeholders})", [a.id for a in chosen])
        if len(chosen) == 1:
            return f"Removed your {kind} for {describe_time(chosen[0].fire_at, now)}."
        return f"Removed {_count(chosen, kind)}: {_list(chosen, now)}."

    def _insert(self, fire_at: datetime, label: str, now: datetime, session: str = "") -> None:
        self._store.execute(
            "INSERT INTO alarms (fire_at, label, created, session) VALUES (?, ?, ?, ?)",
            (fire_at.isoformat(), label, now.isoformat(), session),
        )
        logger.info("%s set for %s", label, fire_at.isoformat())


def _about_timers(words: Sequence[str]) -> bool:
    return TIMER_LABEL in words or "timers" in words


def _clock_time(request: SkillRequest, words: Sequence[str]) -> ClockTime | None:
    """The time of day from the `time` slot if it parses, else from the words."""
    slot = request.slots.get("time", "").split()
    clock = find_clock_time(slot, lenient=True) if slot else None
    if clock is not None:
        return apply_time_of_day(clock, [*request.slots.get("timeofday", "").split(), *words])
    return find_clock_time([*words, *request.slots.get("timeofday", "").split()])


def _day(request: SkillRequest, words: Sequence[str], now: datetime) -> DaySpec | None:
    return find_day([*request.slots.get("date", "").split(), *words], now.date())


def _local(alarm: Alarm, now: datetime) -> datetime:
    return alarm.fire_at.astimezone(now.tzinfo)


def _count(alarms: Sequence[Alarm], kind: str) -> str:
    return f"{len(alarms)} {kind}{'' if len(alarms) == 1 else 's'}"


def _list(alarms: Sequence[Alarm], now: datetime) -> str:
    return join_words([describe_time(alarm.fire_at, now) for alarm in alarms])
