"""Alarms and timers, kept in the skills' SQLite database.

`AlarmSkill` answers HWU64's `alarm_set`, `alarm_query` and `alarm_remove`. HWU64 has no timer
intent; "set a timer for ten minutes" arrives as `alarm_set` and is stored in the same table
with the label "timer". Timers may have a name ("an egg timer", "a timer called pasta"); a
question about timers answers what is left ("about 9 minutes left on your egg timer").

Every reply names the timers and alarms it set or talked about (`SkillReply.mentions`), so the
dialogue can send "cancel it", "how long is left?" or "no, half past six instead" back here with
`SkillRequest.target` set to the one meant: `alarm_remove` removes it, `alarm_query` says what is
left on it, and `alarm_set` with a target moves it (or restarts or extends a timer). Nothing here
rings an alarm: the runtime reads `upcoming()` (edge/runtime/alerts.py).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

from edge.core.settings import SkillSettings
from edge.core.text.normalize import normalize_utterance
from edge.skills.base import Mention, Skill, SkillError, SkillReply, SkillRequest
from edge.skills.builtin.alarm_words import asks_what_is_left, describe_left, timer_name, timer_title
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
    session TEXT NOT NULL DEFAULT '',  -- the conversation that set it: its alert goes back there
    name TEXT NOT NULL DEFAULT ''  -- a timer's name ("egg"); '' unnamed
)"""
_ALL_WORDS = ("all", "every", "everything", "alarms", "timers", "both")
_ACTIONS = {"cancel": "alarm_remove", "query": "alarm_query", "change": "alarm_set"}
_MORE = ("more", "extra", "add", "another", "longer", "later", "extend")
_EARLIER = ("earlier", "sooner", "forward")
_ORDINALS = {"first": 0, "second": 1, "third": 2, "last": -1}


@dataclass(frozen=True)
class Alarm:
    id: int
    fire_at: datetime  # timezone-aware
    label: str
    name: str = ""  # a timer's name
    created: datetime | None = None

    @property
    def is_timer(self) -> bool:
        return self.label == TIMER_LABEL

    @property
    def kind(self) -> str:
        return TIMER_LABEL if self.is_timer else "alarm"

    def title(self) -> str:
        """'egg timer', 'timer for 20 minutes', 'alarm'."""
        if not self.is_timer:
            return "alarm"
        return timer_title(self.name, self.fire_at - self.created if self.created else timedelta())

    def mention(self, now: datetime) -> Mention:
        name = self.title() if self.is_timer else f"alarm for {describe_time(self.fire_at, now)}"
        return Mention(self.kind, ref=str(self.id), name=name, actions=dict(_ACTIONS))


class AlarmSkill(Skill):
    """Sets, lists, moves and removes alarms and timers; state survives restarts in SQLite."""

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
        self._store.ensure_column("alarms", "name", "TEXT NOT NULL DEFAULT ''")

    def upcoming(self, now: datetime) -> list[Alarm]:
        """Alarms and timers that fire after `now`, soonest first."""
        rows = self._store.execute("SELECT id, fire_at, label, name, created FROM alarms")
        alarms = [Alarm(row["id"], datetime.fromisoformat(row["fire_at"]), row["label"], row["name"],
                        datetime.fromisoformat(row["created"])) for row in rows]
        return sorted((alarm for alarm in alarms if alarm.fire_at > now), key=lambda a: a.fire_at)

    def handle(self, request: SkillRequest) -> SkillReply:
        now = request_time(request, self._clock)
        words = request.text.split()
        target = self._target(request, now)
        if request.target and target is None:
            return SkillReply(text="That one has already gone off or been removed.")
        if request.intent == "alarm_set":
            return self._change(request, words, now, target) if target else self._set(request, words, now)
        if request.intent == "alarm_query":
            return self._query(request, words, now, target)
        if request.intent == "alarm_remove":
            return self._remove(request, words, now, target)
        raise SkillError(f"the alarm skill does not handle intent {request.intent!r}")

    def close(self) -> None:
        if self._owns_store:
            self._store.close()

    def _target(self, request: SkillRequest, now: datetime) -> Alarm | None:
        if not request.target:
            return None
        return next((alarm for alarm in self.upcoming(now) if str(alarm.id) == request.target), None)

    # --- set and change ---------------------------------------------------------------------

    def _set(self, request: SkillRequest, words: list[str], now: datetime) -> SkillReply:
        said = normalize_utterance(request.raw_text).split() or words  # this turn's words ("and a tea timer…")
        if _about_timers(words) or _about_timers(said) or request.slots.get("alarm_type") == TIMER_LABEL:
            duration = _duration(request, words)
            if duration is None:
                return SkillReply(text="How long should the timer be?", ask_slot="duration")
            name = timer_name(said) if _about_timers(said) else timer_name(words)  # an answer keeps the name asked with
            timer = self._insert(after(now, duration), TIMER_LABEL, now, request.session, name)
            said = f"{name.capitalize()} timer set" if name else "Timer set"
            return SkillReply(text=f"{said} for {describe_duration(duration)}.", mentions=(timer.mention(now),))
        duration = find_duration(words, after=("in", "for"))
        if duration is not None:
            fire_at = after(now, duration)
        else:
            clock = _clock_time(request, words)
            if clock is None:
                return SkillReply(text="What time should I set the alarm for?", ask_slot="time")
            fire_at = next_occurrence(clock, now, _day(request, words, now))
        same = next((alarm for alarm in self.upcoming(now) if not alarm.is_timer and alarm.fire_at == fire_at), None)
        if same is not None:
            return SkillReply(text=f"You already have an alarm for {describe_time(fire_at, now)}.",
                              mentions=(same.mention(now),))
        label = request.slots.get("alarm_type") or request.slots.get("event_name") or "alarm"
        alarm = self._insert(fire_at, label, now, request.session)
        return SkillReply(text=f"Alarm set for {describe_time(fire_at, now)}.", mentions=(alarm.mention(now),))

    def _change(self, request: SkillRequest, words: list[str], now: datetime, target: Alarm) -> SkillReply:
        """Move an alarm ("half past six instead", "ten minutes later"), restart or extend a timer."""
        shift = find_duration([word for word in words if word not in ("more", "extra")])
        sign = -1 if any(word in _EARLIER for word in words) else 1
        if target.is_timer:
            mine = f"{target.name} timer" if target.name else TIMER_LABEL
            if shift is None:
                return SkillReply(text=f"How long should your {mine} be?", ask_slot="duration")
            extend = any(word in _MORE or word in _EARLIER for word in words)
            fire_at = target.fire_at + sign * shift if extend else after(now, shift)
            created = target.created if extend else now  # restarted: "the timer for 1 hour" from now on
            self._move(target, fire_at, created)
            moved = Alarm(target.id, fire_at, target.label, target.name, created)
            return SkillReply(text=f"Okay, your {mine} now has {describe_left(fire_at - now)} left.",
                              mentions=(moved.mention(now),))
        relative = shift is not None and any(word in _MORE or word in _EARLIER for word in words)
        if relative:
            fire_at = target.fire_at + sign * shift
        else:
            clock = _clock_time(request, words, lenient=True)
            if clock is None:
                return SkillReply(text="What time should I move your alarm to?", ask_slot="time")
            fire_at = _nearest(clock, target.fire_at, now, _day(request, words, now))
        if fire_at <= now:
            return SkillReply(text=f"{describe_time(fire_at, now)} has already passed. What time should I move it to?",
                              ask_slot="time")
        self._move(target, fire_at)
        moved = Alarm(target.id, fire_at, target.label, target.name, target.created)
        return SkillReply(text=f"Okay, I moved your alarm to {describe_time(fire_at, now)}.", mentions=(moved.mention(now),))

    # --- query ------------------------------------------------------------------------------

    def _query(self, request: SkillRequest, words: list[str], now: datetime, target: Alarm | None) -> SkillReply:
        if target is not None:
            others = sum(alarm.is_timer for alarm in self.upcoming(now)) > 1
            return SkillReply(text=_status(target, now, others), mentions=(target.mention(now),))
        upcoming = self.upcoming(now)
        named = _by_name(upcoming, words)
        if named:
            others = sum(alarm.is_timer for alarm in upcoming) > 1
            return SkillReply(text=" ".join(_status(alarm, now, others) for alarm in named),
                              mentions=tuple(alarm.mention(now) for alarm in named))
        day = _day(request, words, now)
        if day is not None:
            upcoming = [alarm for alarm in upcoming if _local(alarm, now).date() == day.day]
        timers = [alarm for alarm in upcoming if alarm.is_timer]
        asks_timers = _about_timers(words) or (asks_what_is_left(words) and "alarm" not in words)
        if asks_timers:
            return SkillReply(text=_timers_answer(timers, now), mentions=tuple(alarm.mention(now) for alarm in timers))
        alarms = [alarm for alarm in upcoming if not alarm.is_timer]
        when = "" if day is None else " " + describe_day(day.day, now.date())
        answer = f"You have {_count(alarms, 'alarm')}: {_list(alarms, now)}." if alarms else f"You have no alarms set{when}."
        if timers:
            also = f"{_count(timers, TIMER_LABEL)}: {_timer_list(timers, now)}."
            answer = answer[:-1] + f", but you have {also}" if not alarms else answer + f" You also have {also}"
        return SkillReply(text=answer, mentions=tuple(alarm.mention(now) for alarm in alarms + timers))

    # --- remove -----------------------------------------------------------------------------

    def _remove(self, request: SkillRequest, words: list[str], now: datetime, target: Alarm | None) -> SkillReply:
        if target is not None:
            return self._delete([target], target.kind, now)
        kind = TIMER_LABEL if _about_timers(words) else "alarm"
        upcoming = self.upcoming(now)
        named = _by_name(upcoming, words)
        if named:
            return self._delete(named, named[0].kind, now)
        candidates = [alarm for alarm in upcoming if alarm.is_timer == (kind == TIMER_LABEL)]
        if not candidates:
            return SkillReply(text=f"You have no {kind}s to remove.")
        chosen = self._choose(request, words, now, candidates, kind)
        if isinstance(chosen, SkillReply):
            return chosen
        return self._delete(chosen, kind, now)

    def _choose(self, request: SkillRequest, words: list[str], now: datetime, candidates: list[Alarm],
                kind: str) -> list[Alarm] | SkillReply:
        clock, day = _clock_time(request, words), _day(request, words, now)
        if clock is not None:
            chosen = [alarm for alarm in candidates
                      if clock.matches(_local(alarm, now)) and (day is None or _local(alarm, now).date() == day.day)]
            return chosen or SkillReply(text=f"You don't have {'a' if kind == TIMER_LABEL else 'an'} {kind} at {clock.spoken()}.")
        if day is not None:
            chosen = [alarm for alarm in candidates if _local(alarm, now).date() == day.day]
            return chosen or SkillReply(text=f"You have no {kind}s {describe_day(day.day, now.date())}.")
        ordinal = next((_ORDINALS[word] for word in words if word in _ORDINALS), None)
        if len(candidates) == 1 or any(word in _ALL_WORDS for word in words):
            return candidates
        if ordinal is not None and -len(candidates) <= ordinal < len(candidates):
            return [candidates[ordinal]]
        listed = _timer_list(candidates, now) if kind == TIMER_LABEL else _list(candidates, now)
        return SkillReply(text=f"Which {kind} should I remove? You have {_count(candidates, kind)}: {listed}.",
                          mentions=tuple(alarm.mention(now) for alarm in candidates))

    def _delete(self, chosen: list[Alarm], kind: str, now: datetime) -> SkillReply:
        placeholders = ", ".join("?" for _ in chosen)
        self._store.execute(f"DELETE FROM alarms WHERE id IN ({placeholders})", [a.id for a in chosen])
        if len(chosen) == 1 and chosen[0].is_timer:
            return SkillReply(text=f"Cancelled your {chosen[0].title()}.")
        if len(chosen) == 1:
            return SkillReply(text=f"Removed your alarm for {describe_time(chosen[0].fire_at, now)}.")
        if kind == TIMER_LABEL:
            return SkillReply(text=f"Cancelled {_count(chosen, kind)}: {join_words([alarm.title() for alarm in chosen])}.")
        return SkillReply(text=f"Removed {_count(chosen, kind)}: {_list(chosen, now)}.")

    # --- storage ----------------------------------------------------------------------------

    def _insert(self, fire_at: datetime, label: str, now: datetime, session: str = "", name: str = "") -> Alarm:
        rows = self._store.execute(
            "INSERT INTO alarms (fire_at, label, created, session, name) VALUES (?, ?, ?, ?, ?) RETURNING id",
            (fire_at.isoformat(), label, now.isoformat(), session, name),
        )
        logger.info("%s set for %s", label, fire_at.isoformat())
        return Alarm(int(rows[0]["id"]), fire_at, label, name, now)

    def _move(self, alarm: Alarm, fire_at: datetime, created: datetime | None = None) -> None:
        created = created or alarm.created or fire_at
        self._store.execute("UPDATE alarms SET fire_at = ?, created = ? WHERE id = ?",
                            (fire_at.isoformat(), created.isoformat(), alarm.id))
        logger.info("%s %d moved to %s", alarm.label, alarm.id, fire_at.isoformat())


def _about_timers(words: Sequence[str]) -> bool:
    return TIMER_LABEL in words or "timers" in words


def _duration(request: SkillRequest, words: Sequence[str]) -> timedelta | None:
    slot = request.slots.get("duration", "").split()
    return (find_duration(slot) if slot else None) or find_duration(words)


def _clock_time(request: SkillRequest, words: Sequence[str], lenient: bool = False) -> ClockTime | None:
    """The time of day from the `time` slot if it parses, else from the words."""
    slot = request.slots.get("time", "").split()
    clock = find_clock_time(slot, lenient=True) if slot else None
    if clock is not None:
        return apply_time_of_day(clock, [*request.slots.get("timeofday", "").split(), *words])
    return find_clock_time([*words, *request.slots.get("timeofday", "").split()], lenient=lenient)


def _nearest(clock: ClockTime, old: datetime, now: datetime, day: DaySpec | None) -> datetime:
    """The moment `clock` names closest to the alarm it moves: 'half past six' moves 6 AM to 6:30 AM."""
    if day is not None:
        return next_occurrence(clock, now, day)
    old = old.astimezone(now.tzinfo)
    candidates = [
        datetime.combine(old.date() + timedelta(days=shift), datetime.min.time().replace(hour=hour, minute=clock.minute),
                         tzinfo=now.tzinfo)
        for hour in clock.hours_24() for shift in (-1, 0, 1)
    ]
    future = [moment for moment in candidates if moment > now] or [next_occurrence(clock, now)]
    return min(future, key=lambda moment: abs((moment - old).total_seconds()))


def _by_name(alarms: Sequence[Alarm], words: Sequence[str]) -> list[Alarm]:
    """Timers whose name the words say ('the egg timer', 'my pasta one'), else whose length they say ('the ten
    minute timer') when there are several."""
    said = set(words)
    named = [alarm for alarm in alarms if alarm.is_timer and alarm.name and set(alarm.name.split()) <= said]
    timers = [alarm for alarm in alarms if alarm.is_timer]
    length = find_duration(list(words)) if not named and len(timers) > 1 and TIMER_LABEL in said else None
    if length is None:
        return named
    return [timer for timer in timers if timer.created and abs((timer.fire_at - timer.created) - length) < timedelta(seconds=1)]


def _status(alarm: Alarm, now: datetime, others: bool = False) -> str:
    """'About 9 minutes left on your egg timer.'; an unnamed timer is 'your timer' unless there are others."""
    if not alarm.is_timer:
        return f"Your alarm is set for {describe_time(alarm.fire_at, now)}."
    left = describe_left(alarm.fire_at - now)
    title = alarm.title() if alarm.name or others else TIMER_LABEL
    return f"{left[0].upper()}{left[1:]} left on your {title}."


def _timers_answer(timers: Sequence[Alarm], now: datetime) -> str:
    if not timers:
        return "You have no timers set."
    if len(timers) == 1:
        return _status(timers[0], now)
    return f"You have {_count(timers, TIMER_LABEL)}: {_timer_list(timers, now)}."


def _timer_list(timers: Sequence[Alarm], now: datetime) -> str:
    """'about 3 minutes left on the egg timer and 10 minutes left' (unnamed timers by what is left)."""
    return join_words([f"{describe_left(timer.fire_at - now)} left" + (f" on the {timer.title()}" if timer.name else "")
                       for timer in timers])


def _day(request: SkillRequest, words: Sequence[str], now: datetime) -> DaySpec | None:
    return find_day([*request.slots.get("date", "").split(), *words], now.date())


def _local(alarm: Alarm, now: datetime) -> datetime:
    return alarm.fire_at.astimezone(now.tzinfo)


def _count(alarms: Sequence[Alarm], kind: str) -> str:
    return f"{len(alarms)} {kind}{'' if len(alarms) == 1 else 's'}"


def _list(alarms: Sequence[Alarm], now: datetime) -> str:
    return join_words([describe_time(alarm.fire_at, now) for alarm in alarms])
