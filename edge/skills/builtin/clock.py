"""Telling the time and the date, here or in a named city.

`ClockSkill` answers `datetime_query` ("what time is it", "what's the date today", "what time
is it in tokyo") and simple `datetime_convert` ("five pm eastern in pacific time"). How times
are said lives in edge/skills/phrasing.py, shared with every skill.

`datetime_query` is declared (in code: its place slot lists every city `PLACES` knows) so that a
follow-up carries it ("what time is it in London?" → "and in Sydney?") and the place it answered
for is remembered ("what's the weather there?").
"""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta
from typing import ClassVar
from zoneinfo import ZoneInfo

from edge.core.settings import SkillSettings
from edge.skills.base import Mention, Skill, SkillReply, SkillRequest
from edge.skills.phrasing import (
    _MONTHS,
    _NOT_PLACES,
    PLACES,
    Clock,
    find_places,
    format_clock,
    format_date,
    place_title,
    request_time,
    resolve_timezone,
    system_clock,
)
from edge.skills.spec import IntentSpec, SkillSpec, SlotSpec
from edge.skills.timeparse import WEEKDAYS, find_clock_time, find_day

logger = logging.getLogger(__name__)


class ClockSkill(Skill):
    """Says the time and date, locally or in a city from `PLACES`."""

    name: ClassVar[str] = "clock"
    intents: ClassVar[tuple[str, ...]] = ("datetime_query", "datetime_convert")

    def __init__(self, settings: SkillSettings | None = None, clock: Clock | None = None) -> None:
        self._zone = resolve_timezone((settings or SkillSettings()).timezone)
        self._clock = clock or system_clock(self._zone)
        self.spec = CLOCK_SPEC

    def handle(self, request: SkillRequest) -> SkillReply:
        now = request_time(request, self._clock)
        words = request.text.split()
        declared = request.values.get("place")
        slot_words = [] if declared is not None else [
            word for key in ("place_name", "time_zone") for word in request.slots.get(key, "").split()
            if word not in _NOT_PLACES
        ]
        places = [str(declared.value)] if declared is not None else find_places(slot_words) or find_places(words)
        if not places and slot_words:
            return SkillReply(text=f"Sorry, I don't know the time zone of {' '.join(slot_words)}.")
        if request.intent == "datetime_convert":
            converted = self._convert(request, words, places, now)
            if converted is not None:
                return SkillReply(text=converted)
        if places:
            return SkillReply(text=_time_in(places[0], now), mentions=(Mention("place", name=places[0]),))
        day = request.values.get("date")  # "and tomorrow?" after "what's the date today": the day asked now
        said = [word for word in words if word not in _DAY_WORDS] + day.text.split() if day is not None else words
        return SkillReply(text=_local_answer(said + request.slots.get("date", "").split(), now))

    def _convert(
        self, request: SkillRequest, words: list[str], places: list[str], now: datetime
    ) -> str | None:
        """'five pm eastern in pacific' -> '5:00 PM in Eastern is 2:00 PM in Pacific.'"""
        time_slot = request.slots.get("time", "").split()
        clock_time = find_clock_time(time_slot, lenient=True) if time_slot else None
        clock_time = clock_time or find_clock_time(words)
        if clock_time is None or not places:
            return None
        source = ZoneInfo(PLACES[places[0]])
        target = ZoneInfo(PLACES[places[1]]) if len(places) > 1 else now.tzinfo
        hour = clock_time.hours_24()[0]  # an ambiguous 'five' is read as 5 AM
        start = datetime.combine(now.astimezone(source).date(), time(hour, clock_time.minute), source)
        converted = start.astimezone(target)
        where = f"in {place_title(places[1])}" if len(places) > 1 else "here"
        shift = (converted.date() - start.date()).days
        day = {1: " the next day", -1: " the day before"}.get(shift, "")
        return (
            f"{format_clock(start)} in {place_title(places[0])} is "
            f"{format_clock(converted)} {where}{day}."
        )


_DAY_WORDS = frozenset({"today", "tomorrow", "yesterday", "tonight"})
# Zone names and abbreviations are read from the words by the skill itself, not declared as places
# (declared values also bias speech recognition toward them: edge/asr/onnx/vocabulary.py).
_ZONE_WORDS = frozenset({"eastern", "central", "mountain", "pacific", "est", "cst", "mst", "pst", "gmt", "utc", "cet",
                         "ist", "jst", "uk"})
CLOCK_SPEC = SkillSpec("clock", {"datetime_query": IntentSpec(
    name="datetime_query", description="Say the time or the date, here or in a city.", context=True,
    model_slots={"place": "place_name", "date": "date"},
    slots={"place": SlotSpec("place", type="place", values={name: () for name in PLACES if name not in _ZONE_WORDS}),
           "date": SlotSpec("date", type="date")},
    source=__file__,
)}, description="The time and the date, here or in a city.", path=__file__)


def _time_in(place: str, now: datetime) -> str:
    """'In Tokyo it's 12:05 AM on Monday.' (the day only when it differs from ours)."""
    there = now.astimezone(ZoneInfo(PLACES[place]))
    day = "" if there.date() == now.date() else f" on {WEEKDAYS[there.weekday()].capitalize()}"
    return f"In {place_title(place)} it's {format_clock(there)}{day}."


def _local_answer(words: list[str], now: datetime) -> str:
    wants_time = any(word in ("time", "hour", "clock") for word in words)
    wants_date = any(word in ("date", "day", "weekday") for word in words)
    day = find_day(words, now.date())
    if "yesterday" in words and not wants_time:
        return f"Yesterday was {format_date(now.date() - timedelta(days=1))}."
    if day is not None and day.day != now.date() and not wants_time:
        if day.day == now.date() + timedelta(days=1):
            return f"Tomorrow is {format_date(day.day)}."
        weekday, _, month_day = format_date(day.day).partition(", ")
        return f"{weekday} is {month_day}."
    if wants_time:
        return f"It's {format_clock(now)}" + (f" on {format_date(now.date())}." if wants_date else ".")
    if wants_date or day is not None:
        return f"Today is {format_date(now.date())}."
    if "year" in words:
        return f"It's {now.year}."
    if "month" in words:
        return f"It's {_MONTHS[now.month - 1]}."
    return f"It's {format_clock(now)}."
