from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from edge.core.settings import SkillSettings
from edge.core.text.normalize import normalize_utterance
from edge.skills.base import SkillError, SkillRequest
from edge.skills.builtin.clock import ClockSkill
from edge.skills.phrasing import (
    describe_day,
    describe_duration,
    describe_time,
    format_clock,
    format_date,
    join_words,
    resolve_timezone,
)

LA = ZoneInfo("America/Los_Angeles")
NOW = datetime(2026, 11, 29, 7, 5, tzinfo=LA)  # a Sunday


def ask(raw: str, intent: str = "datetime_query", now: datetime | None = NOW, **slots: str) -> str:
    skill = ClockSkill(SkillSettings(timezone="America/Los_Angeles"), clock=lambda: NOW)
    request = SkillRequest(intent=intent, text=normalize_utterance(raw), raw_text=raw, slots=slots, now=now)
    return skill.handle(request).text


@pytest.mark.parametrize(
    ("raw", "reply"),
    [
        ("what time is it", "It's 7:05 AM."),
        ("What's the time?", "It's 7:05 AM."),
        ("what's the date today", "Today is Sunday, November 29, 2026."),
        ("what day is it", "Today is Sunday, November 29, 2026."),
        ("what is the date tomorrow", "Tomorrow is Monday, November 30, 2026."),
        ("what was the date yesterday", "Yesterday was Saturday, November 28, 2026."),
        ("what's the date on friday", "Friday is December 4, 2026."),
        ("what year is it", "It's 2026."),
        ("what month is it", "It's November."),
        ("tell me the date and time", "It's 7:05 AM on Sunday, November 29, 2026."),
        ("what time is it today", "It's 7:05 AM."),
        ("what's today", "Today is Sunday, November 29, 2026."),
        ("hello", "It's 7:05 AM."),
    ],
)
def test_local_time_and_date(raw, reply):
    assert ask(raw) == reply


@pytest.mark.parametrize(
    ("moment", "spoken"),
    [
        (datetime(2026, 1, 1, 0, 0), "12:00 AM"),
        (datetime(2026, 1, 1, 0, 30), "12:30 AM"),
        (datetime(2026, 1, 1, 12, 0), "12:00 PM"),
        (datetime(2026, 1, 1, 13, 9), "1:09 PM"),
        (datetime(2026, 1, 1, 23, 59), "11:59 PM"),
    ],
)
def test_format_clock(moment, spoken):
    assert format_clock(moment) == spoken


def test_uses_the_clock_when_the_request_has_no_time():
    later = datetime(2026, 11, 29, 21, 45, tzinfo=LA)
    skill = ClockSkill(SkillSettings(), clock=lambda: later)
    request = SkillRequest(intent="datetime_query", text="what time is it", raw_text="What time is it?")
    assert skill.handle(request).text == "It's 9:45 PM."


def test_request_time_wins_over_the_clock():
    assert ask("what time is it", now=datetime(2026, 11, 29, 18, 30, tzinfo=LA)) == "It's 6:30 PM."


def test_default_clock_is_in_the_configured_zone():
    skill = ClockSkill(SkillSettings(timezone="Asia/Tokyo"))
    reply = skill.handle(SkillRequest(intent="datetime_query", text="what time is it", raw_text=""))
    expected = {format_clock(datetime.now(ZoneInfo("Asia/Tokyo")) + timedelta(minutes=m)) for m in (-1, 0)}
    assert reply.text[len("It's ") : -1] in expected


def test_naive_request_time_is_refused():
    with pytest.raises(SkillError, match="timezone-aware"):
        ask("what time is it", now=datetime(2026, 11, 29, 7, 5))


def test_unknown_configured_zone_says_how_to_fix_it():
    with pytest.raises(SkillError, match="IANA"):
        ClockSkill(SkillSettings(timezone="Mars/Olympus_Mons"))
    assert resolve_timezone("Europe/London") == ZoneInfo("Europe/London")
    assert resolve_timezone("").utcoffset(datetime(2026, 1, 1)) is not None


@pytest.mark.parametrize(
    ("raw", "slots", "reply"),
    [
        ("what time is it in tokyo", {}, "In Tokyo it's 12:05 AM on Monday."),
        ("what time is it in london", {"place_name": "london"}, "In London it's 3:05 PM."),
        ("what's the time in new york", {}, "In New York it's 10:05 AM."),
        ("time in utc", {}, "In UTC it's 3:05 PM."),
        ("what time is it in atlantis", {"place_name": "atlantis"}, "Sorry, I don't know the time zone of atlantis."),
        ("what time is it here", {"place_name": "here"}, "It's 7:05 AM."),
    ],
)
def test_time_in_a_place(raw, slots, reply):
    assert ask(raw, **slots) == reply


@pytest.mark.parametrize(
    ("raw", "reply"),
    [
        ("convert 5 pm eastern to pacific", "5:00 PM in Eastern is 2:00 PM in Pacific."),
        ("what is 9 am london time in new york", "9:00 AM in London is 4:00 AM in New York."),
        ("what is 8 pm in tokyo in london", "8:00 PM in Tokyo is 11:00 AM in London."),
        ("what is 11 pm new york time in tokyo", "11:00 PM in New York is 1:00 PM in Tokyo the next day."),
        ("what's 6 am tokyo time here", "6:00 AM in Tokyo is 1:00 PM here the day before."),
        ("what time is it in paris", "In Paris it's 4:05 PM."),
    ],
)
def test_convert(raw, reply):
    assert ask(raw, intent="datetime_convert") == reply


def test_saying_days_and_durations():
    today = date(2026, 11, 29)
    assert describe_day(today, today) == "today"
    assert describe_day(date(2026, 11, 30), today) == "tomorrow"
    assert describe_day(date(2026, 12, 2), today) == "on Wednesday"
    assert describe_day(date(2026, 12, 14), today) == "on December 14"
    assert format_date(today) == "Sunday, November 29, 2026"
    assert describe_time(datetime(2026, 11, 30, 15, 0, tzinfo=UTC), NOW) == "7:00 AM tomorrow"
    assert describe_duration(timedelta(minutes=10)) == "10 minutes"
    assert describe_duration(timedelta(hours=1, minutes=1)) == "1 hour and 1 minute"
    assert describe_duration(timedelta(hours=2, minutes=5, seconds=3)) == "2 hours, 5 minutes and 3 seconds"
    assert join_words([]) == "" and join_words(["a"]) == "a" and join_words(["a", "b"]) == "a and b"
