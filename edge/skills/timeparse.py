"""Spoken clock times, days and durations, read from normalised words.

'seven thirty pm', 'half past six', 'noon', 'tomorrow', 'next monday', 'in ten minutes',
'an hour and a half'. Parsing is pure: the caller passes the current time; "not found" is a
normal None return. How to say times back lives in `edge.skills.phrasing`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from edge.core.text.numbers import parse_number_words

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_UNIT_SECONDS = {
    "second": 1, "seconds": 1, "sec": 1, "secs": 1, "minute": 60, "minutes": 60, "min": 60,
    "mins": 60, "hour": 3600, "hours": 3600, "hr": 3600, "hrs": 3600,
}
_OCLOCK = ("o'clock", "oclock")
_TIME_CUES = ("at", "for", "until", "till", "by")
_PM_PARTS = ("afternoon", "evening", "tonight")
_MAX_DURATION = timedelta(days=7)  # longer 'durations' are a misparse, not a timer


@dataclass(frozen=True)
class ClockTime:
    """A time of day as said: hour 0-23, or 1-12 with `meridiem` 'am'/'pm'; None: ambiguous."""

    hour: int
    minute: int = 0
    meridiem: str | None = None

    def hours_24(self) -> tuple[int, ...]:
        """The 24-hour clock hours this could mean, most likely first."""
        if self.meridiem == "am":
            return (self.hour % 12,)
        if self.meridiem == "pm":
            return (self.hour % 12 + 12,)
        if self.hour == 0 or self.hour > 12:
            return (self.hour,)
        return (self.hour % 12, self.hour % 12 + 12)

    def matches(self, when: datetime) -> bool:
        return when.minute == self.minute and when.hour in self.hours_24()

    def spoken(self) -> str:
        """'7:00 AM', '19:30' -> '7:30 PM'; an ambiguous '7:00' stays without AM/PM."""
        if self.meridiem is None and 1 <= self.hour <= 12:
            return f"{self.hour}:{self.minute:02d}"
        hour = self.hours_24()[0]
        return f"{hour % 12 or 12}:{self.minute:02d} {'AM' if hour < 12 else 'PM'}"


_NAMED_TIMES = {
    "noon": ClockTime(12, 0, "pm"), "midday": ClockTime(12, 0, "pm"),
    "midnight": ClockTime(12, 0, "am"),
}


@dataclass(frozen=True)
class DaySpec:
    day: date
    roll_days: int  # if every time on `day` has passed, try this many days later


def find_clock_time(words: Sequence[str], lenient: bool = False) -> ClockTime | None:
    """The first time of day in the words. A bare hour ('seven') counts only after 'at'/'for'
    or before 'in the morning' etc., unless `lenient` (for a slot that is known to be a time)."""
    for index in range(len(words)):
        found = parse_clock_time(words, index)
        if found is None:
            continue
        clock, used, explicit = found
        cued = index > 0 and words[index - 1] in _TIME_CUES
        if explicit or lenient or cued or _time_of_day(words[index + used : index + used + 3]):
            return apply_time_of_day(clock, words)
    return None


def parse_clock_time(words: Sequence[str], start: int) -> tuple[ClockTime, int, bool] | None:
    """A time of day at `start`: (time, words used, whether it was unmistakably a time)."""
    if words[start] in _NAMED_TIMES:
        return _NAMED_TIMES[words[start]], 1, True
    relative = _parse_past_to(words, start)
    if relative is not None:
        return relative
    found = _parse_hour_minute(words, start)
    if found is None:
        return None
    hour, minute, used, explicit = found
    meridiem, more = _parse_meridiem(words, start + used)
    if meridiem and not 1 <= hour <= 12:
        return None
    return ClockTime(hour, minute, meridiem), used + more, explicit or meridiem is not None


def apply_time_of_day(clock: ClockTime, words: Sequence[str]) -> ClockTime:
    """'six in the morning' -> 6 am; 'seven tonight' -> 7 pm; 'two at night' -> 2 am."""
    part = _time_of_day(words)
    if clock.meridiem or not part or not 1 <= clock.hour <= 12:
        return clock
    if part == "night":
        return ClockTime(clock.hour, clock.minute, "am" if clock.hour < 5 or clock.hour == 12 else "pm")
    return ClockTime(clock.hour, clock.minute, "am" if part == "morning" else "pm")


def find_duration(words: Sequence[str], after: Sequence[str] = ()) -> timedelta | None:
    """The first duration in the words ('ten minutes', 'an hour and a half', 'half an hour');
    with `after`, only one that follows one of those words ('in', 'for')."""
    for index in range(len(words)):
        if after and (index == 0 or words[index - 1] not in after):
            continue
        found = parse_duration(words, index)
        if found is not None:
            return found[0]
    return None


def parse_duration(words: Sequence[str], start: int) -> tuple[timedelta, int] | None:
    """One or more 'number unit' parts at `start`, joined by 'and'."""
    words = list(words)
    total, index = 0.0, start
    while (part := _duration_part(words, index)) is not None:
        total, index = total + part[0], index + part[1]
        if words[index : index + 1] == ["and"] and _duration_part(words, index + 1) is not None:
            index += 1
    if index == start or total <= 0 or total > _MAX_DURATION.total_seconds():
        return None
    return timedelta(seconds=round(total)), index - start


def _duration_part(words: list[str], index: int) -> tuple[float, int] | None:
    """(seconds, words used) for 'ten minutes', 'an hour and a half', 'half an hour'."""
    if words[index : index + 3] in (["half", "an", "hour"], ["half", "a", "minute"]):
        return _UNIT_SECONDS[words[index + 2]] / 2, 3
    amount, used = _amount(words, index)
    unit = words[index + used] if amount is not None and index + used < len(words) else ""
    if amount is None or unit not in _UNIT_SECONDS:
        return None
    seconds, used = amount * _UNIT_SECONDS[unit], used + 1
    if words[index + used : index + used + 3] == ["and", "a", "half"]:
        seconds, used = seconds + _UNIT_SECONDS[unit] / 2, used + 3
    return seconds, used


def find_day(words: Sequence[str], today: date) -> DaySpec | None:
    """'today', 'tonight', 'tomorrow', 'the day after tomorrow', '(next) monday'."""
    text = " ".join(words)
    if "day after tomorrow" in text:
        return DaySpec(today + timedelta(days=2), 1)
    for index, word in enumerate(words):
        if word == "tomorrow":
            return DaySpec(today + timedelta(days=1), 1)
        if word in ("today", "tonight"):
            return DaySpec(today, 1)
        if word in WEEKDAYS or word.rstrip("s") in WEEKDAYS:
            ahead = (WEEKDAYS.index(word.rstrip("s")) - today.weekday()) % 7
            if ahead == 0 and index > 0 and words[index - 1] == "next":
                ahead = 7
            return DaySpec(today + timedelta(days=ahead), 7)
    return None


def next_occurrence(clock: ClockTime, now: datetime, day: DaySpec | None = None) -> datetime:
    """The first moment after `now` that the time (on `day`, if given) names."""
    days = [day.day, day.day + timedelta(days=day.roll_days)] if day else [
        now.date(), now.date() + timedelta(days=1)
    ]
    for candidate_day in days:
        for hour in sorted(clock.hours_24()):
            moment = datetime.combine(candidate_day, time(hour, clock.minute), tzinfo=now.tzinfo)
            if moment > now:
                return moment
    return datetime.combine(days[-1], time(clock.hours_24()[0], clock.minute), tzinfo=now.tzinfo)


def after(now: datetime, duration: timedelta) -> datetime:
    """`duration` of real time after `now`, in now's zone (right across a clock change)."""
    return (now.astimezone(UTC) + duration).astimezone(now.tzinfo)


def _parse_past_to(words: Sequence[str], start: int) -> tuple[ClockTime, int, bool] | None:
    """'half past seven', 'quarter to eight', 'ten past six', 'twenty minutes to nine'."""
    if words[start] in ("half", "quarter"):
        minutes, used = (30 if words[start] == "half" else 15), 1
    else:
        number = parse_number_words(words, start)
        if number is None or not isinstance(number[0], int) or not 1 <= number[0] <= 30:
            return None
        minutes, used = number
        if start + used < len(words) and words[start + used] in ("minute", "minutes"):
            used += 1
    direction = words[start + used] if start + used < len(words) else ""
    direction = "past" if direction == "pass" else direction  # "half pass six": how the recogniser often hears it
    hour = parse_number_words(words, start + used + 1) if direction in ("past", "after", "to") else None
    if hour is None or not isinstance(hour[0], int) or not 1 <= hour[0] <= 12:
        return None
    used += 1 + hour[1]
    meridiem, more = _parse_meridiem(words, start + used)
    if direction == "to":
        if minutes == 30:
            return None
        clock = ClockTime(hour[0] - 1 or 12, 60 - minutes, meridiem)
    else:
        clock = ClockTime(hour[0], minutes, meridiem)
    return clock, used + more, True


def _parse_hour_minute(words: Sequence[str], start: int) -> tuple[int, int, int, bool] | None:
    """(hour, minute, words used, explicit) for 'seven', 'seven thirty', 'five o'clock',
    'seventeen hundred'; None for a number that is no hour or starts a duration."""
    number = parse_number_words(words, start)
    if number is None or not isinstance(number[0], int):
        return None
    hour, used = number
    following = words[start + used] if start + used < len(words) else ""
    if following in _UNIT_SECONDS:
        return None  # 'ten minutes' is a duration
    minute, explicit = 0, False
    if hour >= 100 and words[start + used - 1] == "hundred":  # 'seventeen hundred'
        hour, minute, explicit = hour // 100, hour % 100, True
    elif 100 <= hour < 2400 and "hundred" in words[start : start + used] and 0 < hour % 100 < 60:
        # 'seven hundred thirty': "7:30" as a recogniser writes it ("730"), spelled by the normaliser
        hour, minute, explicit = hour // 100, hour % 100, True
    elif following in _OCLOCK:
        used, explicit = used + 1, True
    elif (minutes := _parse_minutes(words, start + used)) is not None:
        minute, used, explicit = minutes[0], used + minutes[1], True
    if not 0 <= hour <= 23 or not 0 <= minute <= 59:
        return None
    return hour, minute, used, explicit


def _parse_minutes(words: Sequence[str], start: int) -> tuple[int, int] | None:
    """Minutes after the hour: 'thirty', 'forty five', 'oh five'."""
    if start < len(words) and words[start] in ("oh", "o", "zero"):
        number = parse_number_words(words, start + 1)
        if number is not None and isinstance(number[0], int) and 0 <= number[0] <= 9:
            return number[0], number[1] + 1
        return None
    number = parse_number_words(words, start)
    if number is None or not isinstance(number[0], int) or not 10 <= number[0] <= 59:
        return None
    return number


def _parse_meridiem(words: Sequence[str], start: int) -> tuple[str | None, int]:
    word = words[start] if start < len(words) else ""
    if word == "m":  # "six am" as the recogniser often writes it ("6M."): the "a" runs into the number
        return "am", 1
    return (word, 1) if word in ("am", "pm") else (None, 0)


def _time_of_day(words: Sequence[str]) -> str | None:
    for word in words:
        if word == "morning":
            return "morning"
        if word in _PM_PARTS:
            return "evening"
        if word == "night":
            return "night"
    return None


def _amount(words: Sequence[str], index: int) -> tuple[float | None, int]:
    if index < len(words) and words[index] in ("a", "an", "one") and index + 1 < len(words) and (
        words[index + 1] in _UNIT_SECONDS
    ):
        return 1.0, 1
    number = parse_number_words(words, index)
    return (float(number[0]), number[1]) if number is not None else (None, 0)
