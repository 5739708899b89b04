"""How every skill says times, dates, durations and places aloud, and the skills' clock.

    format_clock(now)                     # '7:05 AM'
    describe_time(alarm, now)             # '7:00 AM tomorrow'
    describe_duration(timedelta(minutes=90))   # '1 hour and 30 minutes'

One module so that the clock, alarms, timers, reminders, providers and the dialogue say them
the same way (the clock skill itself is edge/skills/builtin/clock.py).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from edge.skills.base import SkillError, SkillRequest
from edge.skills.timeparse import WEEKDAYS

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]  # zero-argument callable giving an aware datetime

_MONTHS = (
    "January February March April May June July August September October November December"
).split()
# Spoken place or zone name -> IANA zone. Deliberately small: a city missing here gets a
# spoken "I don't know", never a wrong time.
PLACES: dict[str, str] = {
    "london": "Europe/London", "uk": "Europe/London", "england": "Europe/London",
    "britain": "Europe/London", "dublin": "Europe/Dublin", "ireland": "Europe/Dublin",
    "paris": "Europe/Paris", "france": "Europe/Paris", "berlin": "Europe/Berlin",
    "germany": "Europe/Berlin", "madrid": "Europe/Madrid", "spain": "Europe/Madrid",
    "rome": "Europe/Rome", "italy": "Europe/Rome", "amsterdam": "Europe/Amsterdam",
    "athens": "Europe/Athens", "moscow": "Europe/Moscow", "russia": "Europe/Moscow",
    "istanbul": "Europe/Istanbul", "cairo": "Africa/Cairo", "egypt": "Africa/Cairo",
    "nairobi": "Africa/Nairobi", "lagos": "Africa/Lagos", "cape town": "Africa/Johannesburg",
    "johannesburg": "Africa/Johannesburg", "dubai": "Asia/Dubai", "india": "Asia/Kolkata",
    "mumbai": "Asia/Kolkata", "delhi": "Asia/Kolkata", "new delhi": "Asia/Kolkata",
    "bangkok": "Asia/Bangkok", "singapore": "Asia/Singapore", "hong kong": "Asia/Hong_Kong",
    "beijing": "Asia/Shanghai", "shanghai": "Asia/Shanghai", "china": "Asia/Shanghai",
    "seoul": "Asia/Seoul", "korea": "Asia/Seoul", "tokyo": "Asia/Tokyo", "japan": "Asia/Tokyo",
    "sydney": "Australia/Sydney", "melbourne": "Australia/Melbourne",
    "australia": "Australia/Sydney", "auckland": "Pacific/Auckland",
    "new zealand": "Pacific/Auckland", "honolulu": "Pacific/Honolulu", "hawaii": "Pacific/Honolulu",
    "new york": "America/New_York", "boston": "America/New_York", "miami": "America/New_York",
    "toronto": "America/Toronto", "chicago": "America/Chicago", "dallas": "America/Chicago",
    "houston": "America/Chicago", "denver": "America/Denver", "phoenix": "America/Phoenix",
    "los angeles": "America/Los_Angeles", "san francisco": "America/Los_Angeles",
    "seattle": "America/Los_Angeles", "vancouver": "America/Vancouver",
    "mexico city": "America/Mexico_City", "mexico": "America/Mexico_City",
    "sao paulo": "America/Sao_Paulo", "brazil": "America/Sao_Paulo",
    "buenos aires": "America/Argentina/Buenos_Aires", "eastern": "America/New_York",
    "est": "America/New_York", "central": "America/Chicago", "cst": "America/Chicago",
    "mountain": "America/Denver", "mst": "America/Denver", "pacific": "America/Los_Angeles",
    "pst": "America/Los_Angeles", "gmt": "Etc/GMT", "utc": "Etc/UTC", "cet": "Europe/Paris",
    "ist": "Asia/Kolkata", "jst": "Asia/Tokyo",
}
_ABBREVIATIONS = {"uk", "est", "cst", "mst", "pst", "gmt", "utc", "cet", "ist", "jst"}
_NOT_PLACES = {"here", "now", "local", "my", "our", "home", "time", "today", "zone", "the"}
_LONGEST_PLACE = max(len(name.split()) for name in PLACES)


def resolve_timezone(name: str) -> tzinfo:
    """An IANA zone by name; empty: this machine's zone (TZ, then /etc/localtime)."""
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise SkillError(
                f"unknown time zone {name!r} in skills.timezone; use an IANA name like 'Europe/London'"
            ) from error
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    localtime = Path("/etc/localtime")
    if localtime.is_symlink():
        candidates.append(str(localtime.resolve()).partition("zoneinfo/")[2])
    for candidate in filter(None, candidates):
        try:
            return ZoneInfo(candidate)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return datetime.now().astimezone().tzinfo or UTC


def system_clock(zone: tzinfo) -> Clock:
    """A clock giving the current time in `zone`."""
    return lambda: datetime.now(zone)


def request_time(request: SkillRequest, clock: Clock) -> datetime:
    """The request's own time if it has one, else the clock's; always timezone-aware."""
    now = request.now if request.now is not None else clock()
    if now.tzinfo is None or now.utcoffset() is None:
        raise SkillError(f"the time of a request must be timezone-aware, got {now.isoformat()}")
    return now


def format_clock(when: datetime) -> str:
    """'7:05 AM'."""
    return f"{when.hour % 12 or 12}:{when.minute:02d} {'AM' if when.hour < 12 else 'PM'}"


def format_date(day: date) -> str:
    """'Sunday, November 29, 2026'."""
    return f"{WEEKDAYS[day.weekday()].capitalize()}, {_MONTHS[day.month - 1]} {day.day}, {day.year}"


def describe_day(day: date, today: date) -> str:
    """'today', 'tomorrow', 'on Monday' (within the week), 'on December 14'."""
    ahead = (day - today).days
    if ahead == 0:
        return "today"
    if ahead == 1:
        return "tomorrow"
    if 1 < ahead < 7:
        return f"on {WEEKDAYS[day.weekday()].capitalize()}"
    return f"on {_MONTHS[day.month - 1]} {day.day}"


def describe_time(when: datetime, now: datetime) -> str:
    """'7:00 AM tomorrow', '6:30 PM today', '7:00 AM on Monday', in now's time zone."""
    when = when.astimezone(now.tzinfo)
    return f"{format_clock(when)} {describe_day(when.date(), now.date())}"


def describe_duration(duration: timedelta) -> str:
    """'10 minutes', '1 hour and 30 minutes', '2 hours, 5 minutes and 3 seconds'."""
    seconds = round(duration.total_seconds())
    parts = []
    for unit, size in (("hour", 3600), ("minute", 60), ("second", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {unit}{'' if count == 1 else 's'}")
    return join_words(parts) if parts else "0 seconds"


def join_words(items: Sequence[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def find_places(words: Sequence[str]) -> list[str]:
    """Known place and zone names in the order they are said: ['london', 'tokyo']."""
    found, index = [], 0
    while index < len(words):
        for length in range(min(_LONGEST_PLACE, len(words) - index), 0, -1):
            name = " ".join(words[index : index + length])
            if name in PLACES:
                found.append(name)
                index += length
                break
        else:
            index += 1
    return found


def place_title(name: str) -> str:
    """'new york' -> 'New York', 'pst' -> 'PST'."""
    return name.upper() if name in _ABBREVIATIONS else name.title()
