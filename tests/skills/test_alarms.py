import sqlite3
import threading
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from edge.core.settings import SkillSettings
from edge.core.text.normalize import normalize_utterance
from edge.skills.base import SkillRequest
from edge.skills.builtin.alarms import AlarmSkill
from edge.skills.store import SkillStore, StoreError
from edge.skills.timeparse import ClockTime, after, find_clock_time, find_day, find_duration, next_occurrence

LA = ZoneInfo("America/Los_Angeles")
NOW = datetime(2026, 11, 29, 7, 5, tzinfo=LA)  # Sunday morning


@pytest.fixture
def settings(tmp_path):
    return SkillSettings(database_path=str(tmp_path / "state" / "edge.sqlite3"), timezone="America/Los_Angeles")


@pytest.fixture
def skill(settings):
    alarms = AlarmSkill(settings, clock=lambda: NOW)
    yield alarms
    alarms.close()


def say(skill: AlarmSkill, intent: str, raw: str, now: datetime = NOW, **slots: str) -> str:
    request = SkillRequest(intent=intent, text=normalize_utterance(raw), raw_text=raw, slots=slots, now=now)
    return skill.handle(request).text


@pytest.mark.parametrize(
    ("raw", "reply"),
    [
        ("set an alarm for 7 am", "Alarm set for 7:00 AM tomorrow."),
        ("wake me up at seven thirty pm", "Alarm set for 7:30 PM today."),
        ("set an alarm for 7:30 p.m.", "Alarm set for 7:30 PM today."),
        ("alarm at five o'clock", "Alarm set for 5:00 PM today."),
        ("set an alarm for noon", "Alarm set for 12:00 PM today."),
        ("set an alarm for midnight", "Alarm set for 12:00 AM tomorrow."),
        ("set an alarm in ten minutes", "Alarm set for 7:15 AM today."),
        ("wake me in two hours", "Alarm set for 9:05 AM today."),
        ("set an alarm for tomorrow at six am", "Alarm set for 6:00 AM tomorrow."),
        ("wake me up at six in the morning", "Alarm set for 6:00 AM tomorrow."),
        ("set an alarm for 8", "Alarm set for 8:00 AM today."),  # the next eight o'clock
        ("set an alarm for 7", "Alarm set for 7:00 PM today."),  # 7 AM has passed
        ("set an alarm for seven tonight", "Alarm set for 7:00 PM today."),
        ("set an alarm for half past six", "Alarm set for 6:30 PM today."),
        ("set an alarm for quarter to eight in the morning", "Alarm set for 7:45 AM today."),
        ("set an alarm for monday at 7", "Alarm set for 7:00 AM tomorrow."),
        ("set an alarm for wednesday at 7 am", "Alarm set for 7:00 AM on Wednesday."),
        ("set an alarm for next sunday at 9 am", "Alarm set for 9:00 AM on December 6."),
        ("set an alarm for today at 6 am", "Alarm set for 6:00 AM tomorrow."),  # today's has passed
        ("set an alarm", "What time should I set the alarm for?"),
        ("wake me up", "What time should I set the alarm for?"),
    ],
)
def test_set(skill, raw, reply):
    assert say(skill, "alarm_set", raw) == reply


def test_set_from_slots(skill):
    assert say(skill, "alarm_set", "set an alarm", time="seven thirty pm") == "Alarm set for 7:30 PM today."
    assert say(skill, "alarm_set", "set an alarm", time="six", timeofday="morning") == "Alarm set for 6:00 AM tomorrow."
    assert say(skill, "alarm_set", "alarm please", time="nine am", date="tuesday") == "Alarm set for 9:00 AM on Tuesday."
    # a slot that is not a time falls back to the words
    assert say(skill, "alarm_set", "wake me at 10 pm", time="banana") == "Alarm set for 10:00 PM today."


def test_timers(skill):
    assert say(skill, "alarm_set", "set a timer for ten minutes") == "Timer set for 10 minutes."
    assert say(skill, "alarm_set", "set a timer for an hour and a half") == "Timer set for 1 hour and 30 minutes."
    assert say(skill, "alarm_set", "timer for 90 seconds") == "Timer set for 1 minute and 30 seconds."
    assert say(skill, "alarm_set", "set a timer") == "How long should the timer be?"
    assert say(skill, "alarm_query", "what timers do i have") == (  # what is left, not when they end
        "You have 3 timers: 1 minute and 30 seconds left, 10 minutes left and 1 hour and 30 minutes left."
    )
    assert say(skill, "alarm_query", "what alarms do i have") == (
        "You have no alarms set, but you have 3 timers: 1 minute and 30 seconds left, 10 minutes left and "
        "1 hour and 30 minutes left."
    )
    assert say(skill, "alarm_remove", "cancel the timers") == (
        "Cancelled 3 timers: timer for 1 minute and 30 seconds, timer for 10 minutes and timer for 1 hour and 30 minutes."
    )


def test_query(skill):
    assert say(skill, "alarm_query", "what alarms do i have") == "You have no alarms set."
    say(skill, "alarm_set", "set an alarm for 7 am")
    assert say(skill, "alarm_query", "what alarms do i have") == "You have 1 alarm: 7:00 AM tomorrow."
    say(skill, "alarm_set", "set an alarm for 6:30 pm")
    assert say(skill, "alarm_query", "what alarms do i have") == (
        "You have 2 alarms: 6:30 PM today and 7:00 AM tomorrow."
    )
    assert say(skill, "alarm_query", "do i have any alarms tomorrow") == "You have 1 alarm: 7:00 AM tomorrow."
    assert say(skill, "alarm_query", "any alarms on friday") == "You have no alarms set on Friday."
    # an alarm that has gone off is no longer listed
    evening = NOW.replace(hour=20)
    assert say(skill, "alarm_query", "what alarms do i have", now=evening) == "You have 1 alarm: 7:00 AM tomorrow."


def test_no_duplicates(skill):
    assert say(skill, "alarm_set", "set an alarm for 7 am") == "Alarm set for 7:00 AM tomorrow."
    assert say(skill, "alarm_set", "wake me at seven in the morning") == "You already have an alarm for 7:00 AM tomorrow."


def test_remove(skill):
    assert say(skill, "alarm_remove", "remove my alarm") == "You have no alarms to remove."
    for raw in ("set an alarm for 7 am", "set an alarm for 6:30 pm", "set an alarm for tuesday at 7 am"):
        say(skill, "alarm_set", raw)
    assert say(skill, "alarm_remove", "cancel my alarm") == (
        "Which alarm should I remove? You have 3 alarms: 6:30 PM today, 7:00 AM tomorrow and 7:00 AM on Tuesday."
    )
    assert say(skill, "alarm_remove", "remove my 9 pm alarm") == "You don't have an alarm at 9:00 PM."
    assert say(skill, "alarm_remove", "remove my 7 am alarm for tomorrow") == "Removed your alarm for 7:00 AM tomorrow."
    assert say(skill, "alarm_remove", "delete the 6:30 alarm") == "Removed your alarm for 6:30 PM today."
    assert say(skill, "alarm_remove", "cancel my alarm") == "Removed your alarm for 7:00 AM on Tuesday."
    assert say(skill, "alarm_query", "what alarms do i have") == "You have no alarms set."


def test_remove_all(skill):
    for raw in ("set an alarm for 7 am", "set an alarm for 7 pm", "set a timer for 5 minutes"):
        say(skill, "alarm_set", raw)
    assert say(skill, "alarm_remove", "cancel my alarms") == "Removed 2 alarms: 7:00 PM today and 7:00 AM tomorrow."
    assert say(skill, "alarm_remove", "remove all alarms") == "You have no alarms to remove."
    assert say(skill, "alarm_query", "what timers are set") == "5 minutes left on your timer."


def reply(skill: AlarmSkill, intent: str, raw: str, now: datetime = NOW, target: str = "", **slots: str):
    request = SkillRequest(intent=intent, text=normalize_utterance(raw), raw_text=raw, slots=slots, now=now, target=target)
    return skill.handle(request)


def test_named_timers_answer_what_is_left(skill):
    egg = reply(skill, "alarm_set", "set an egg timer for 10 minutes")
    assert egg.text == "Egg timer set for 10 minutes."
    assert [(m.kind, m.name, m.actions["cancel"]) for m in egg.mentions] == [("timer", "egg timer", "alarm_remove")]
    assert say(skill, "alarm_set", "set a timer for 20 minutes called pasta") == "Pasta timer set for 20 minutes."
    later = NOW + timedelta(minutes=1, seconds=20)
    assert say(skill, "alarm_query", "how long is left on the egg timer", now=later) == (
        "About 9 minutes left on your egg timer.")
    assert say(skill, "alarm_query", "how much time is left", now=later) == (
        "You have 2 timers: about 9 minutes left on the egg timer and about 19 minutes left on the pasta timer.")
    assert say(skill, "alarm_remove", "cancel the pasta timer", now=later) == "Cancelled your pasta timer."
    assert say(skill, "alarm_query", "how long is left", now=later) == "About 9 minutes left on your egg timer."


def test_a_target_is_the_timer_or_alarm_meant(skill):
    timer = reply(skill, "alarm_set", "set a timer for 20 minutes").mentions[0]
    alarm = reply(skill, "alarm_set", "set an alarm for 6 am").mentions[0]
    assert (timer.kind, alarm.kind, alarm.name) == ("timer", "alarm", "alarm for 6:00 AM tomorrow")
    later = NOW + timedelta(minutes=5)
    assert reply(skill, "alarm_query", "how long is left", later, target=timer.ref).text == "15 minutes left on your timer."
    assert reply(skill, "alarm_set", "no half past six instead", later, target=alarm.ref).text == (
        "Okay, I moved your alarm to 6:30 AM tomorrow.")  # the AM of the alarm it moves, not 6:30 PM today
    assert reply(skill, "alarm_set", "make it ten minutes later", later, target=alarm.ref).text == (
        "Okay, I moved your alarm to 6:40 AM tomorrow.")
    assert reply(skill, "alarm_set", "add five more minutes", later, target=timer.ref).text == (
        "Okay, your timer now has 20 minutes left.")
    assert reply(skill, "alarm_set", "make it an hour", later, target=timer.ref).text == (
        "Okay, your timer now has 1 hour left.")
    assert reply(skill, "alarm_set", "make it later", later, target=alarm.ref).ask_slot == "time"
    assert reply(skill, "alarm_remove", "stop it", later, target=timer.ref).text == "Cancelled your timer for 1 hour."
    assert reply(skill, "alarm_remove", "cancel it", later, target=timer.ref).text == (
        "That one has already gone off or been removed.")
    assert say(skill, "alarm_query", "what alarms do i have", now=later) == "You have 1 alarm: 6:40 AM tomorrow."


def test_which_one_is_asked_and_answered_by_order(skill):
    for raw in ("set a timer for 5 minutes", "set a timer for 10 minutes"):
        say(skill, "alarm_set", raw)
    asked = reply(skill, "alarm_remove", "cancel my timer")
    assert asked.text == "Which timer should I remove? You have 2 timers: 5 minutes left and 10 minutes left."
    assert len(asked.mentions) == 2
    assert say(skill, "alarm_remove", "cancel the second timer") == "Cancelled your timer for 10 minutes."


def test_same_time_every_day_removes_by_day(skill):
    say(skill, "alarm_set", "set an alarm for 7 am")
    say(skill, "alarm_set", "set an alarm for tuesday at 7 am")
    assert say(skill, "alarm_remove", "remove my alarms on tuesday") == "Removed your alarm for 7:00 AM on Tuesday."
    assert say(skill, "alarm_remove", "remove my 7 am alarm") == "Removed your alarm for 7:00 AM tomorrow."


def test_alarms_survive_a_restart(settings):
    first = AlarmSkill(settings, clock=lambda: NOW)
    say(first, "alarm_set", "set an alarm for 7 am")
    say(first, "alarm_set", "set a timer for ten minutes")
    first.close()
    second = AlarmSkill(settings, clock=lambda: NOW)
    try:
        assert say(second, "alarm_query", "what alarms do i have") == (
            "You have 1 alarm: 7:00 AM tomorrow. You also have 1 timer: 10 minutes left."
        )
    finally:
        second.close()
    with sqlite3.connect(settings.database_path) as connection:
        rows = connection.execute("SELECT fire_at, label, created, name FROM alarms ORDER BY id").fetchall()
    assert rows == [
        ("2026-11-30T07:00:00-08:00", "alarm", "2026-11-29T07:05:00-08:00", ""),
        ("2026-11-29T07:15:00-08:00", "timer", "2026-11-29T07:05:00-08:00", ""),
    ]


def test_alarm_type_is_the_label(settings, skill):
    say(skill, "alarm_set", "set a wake up alarm for 7 am", alarm_type="wake up")
    with sqlite3.connect(settings.database_path) as connection:
        assert connection.execute("SELECT label FROM alarms").fetchall() == [("wake up",)]


def test_store_file(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    store = SkillStore("~/deep/er/edge.sqlite3")
    try:
        assert store.path == str(tmp_path / "deep" / "er" / "edge.sqlite3")
        assert store.journal_mode() == "wal"
        store.execute("CREATE TABLE t (x INTEGER)")
        store.execute("INSERT INTO t VALUES (?)", (1,))
        assert [tuple(row) for row in store.execute("SELECT x FROM t")] == [(1,)]
        with pytest.raises(StoreError, match="no such table"):
            store.execute("SELECT * FROM missing")
    finally:
        store.close()
    store.close()  # twice is harmless
    with pytest.raises(StoreError, match="closed"):
        store.execute("SELECT 1")


def test_store_that_cannot_open_says_so(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError, match="skills.database_path"):
        SkillStore(blocker / "edge.sqlite3")


def test_skill_can_be_used_from_many_threads(skill):
    def set_timers(minutes: int) -> None:
        for offset in range(10):
            say(skill, "alarm_set", f"set a timer for {minutes + offset} minutes")

    threads = [threading.Thread(target=set_timers, args=(10 * n + 1,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(skill.upcoming(NOW)) == 80


def test_shared_store_is_not_closed_by_the_skill(tmp_path):
    store = SkillStore(tmp_path / "shared.sqlite3")
    AlarmSkill(SkillSettings(), clock=lambda: NOW, store=store).close()
    assert store.execute("SELECT COUNT(*) FROM alarms")[0][0] == 0
    store.close()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("seven am", ClockTime(7, 0, "am")),
        ("for six m", ClockTime(6, 0, "am")),  # "six am" as Whisper often writes it: "6M."
        ("five thirty pm", ClockTime(5, 30, "pm")),
        ("at seven oh five", ClockTime(7, 5)),
        ("at nineteen forty five", ClockTime(19, 45)),
        ("for seventeen hundred", ClockTime(17, 0)),
        ("twenty to nine am", ClockTime(8, 40, "am")),
        ("ten past six in the evening", ClockTime(6, 10, "pm")),
        ("at two at night", ClockTime(2, 0, "am")),
        ("ten minutes", None),
        ("alarm number seven", None),
    ],
)
def test_clock_time_parsing(text, expected):
    assert find_clock_time(text.split()) == expected


def test_day_and_duration_parsing():
    sunday = date(2026, 11, 29)
    assert find_day("the day after tomorrow".split(), sunday).day == date(2026, 12, 1)
    assert find_day("on sunday".split(), sunday).day == sunday
    assert find_day("next sunday".split(), sunday).day == date(2026, 12, 6)
    assert find_day("some day".split(), sunday) is None
    assert find_duration("in half an hour".split()) == timedelta(minutes=30)
    assert find_duration("for two and a half minutes".split()) == timedelta(minutes=2, seconds=30)
    assert find_duration("one hour and thirty minutes".split()) == timedelta(minutes=90)
    assert find_duration("for forty days".split()) is None
    assert find_duration("at ten".split(), after=("in",)) is None


def test_times_across_a_clock_change():
    before = datetime(2026, 3, 8, 1, 0, tzinfo=LA)  # clocks go forward at 2 AM
    assert after(before, timedelta(hours=2)).isoformat() == "2026-03-08T04:00:00-07:00"
    assert next_occurrence(ClockTime(7, 0, "am"), before).isoformat() == "2026-03-08T07:00:00-07:00"
