"""The alert scheduler on a real skills database: a bad row never stops the next timer, and an
alert is marked done only once it was heard (or given up after a second failed attempt)."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

import pytest

from edge.runtime.alerts import AlertScheduler, NoListenerError
from edge.skills.base import SkillRequest
from edge.skills.loader import load_skills

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


@pytest.fixture
def skills(make_settings):
    loaded = load_skills(make_settings(skills__timezone="UTC"), clock=lambda: NOW)
    yield loaded
    loaded.close()


def set_timer(skills, seconds: int, session: str = "local") -> None:
    request = SkillRequest(intent="alarm_set", text=f"set a timer for {seconds} seconds",
                           raw_text=f"Set a timer for {seconds} seconds.", now=NOW, session=session)
    assert skills.registry.handle(request).text == f"Timer set for {seconds} seconds."


def test_alerts_survive_a_bad_row(skills, caplog):
    skills.context.store.execute("INSERT INTO alarms (fire_at, label, created) VALUES (?, ?, ?)",
                                 ("not a time", "alarm", NOW.isoformat()))
    set_timer(skills, 5, session="kitchen")
    heard = []
    scheduler = AlertScheduler(skills.context, heard.append)
    with caplog.at_level(logging.ERROR, logger="edge.runtime.alerts"):
        assert [alert.text for alert in scheduler.poll(NOW + timedelta(seconds=6))] == ["Your timer for 5 seconds is done."]
        scheduler.poll(NOW + timedelta(seconds=7))  # the bad row is logged once, not on every round
    assert heard[0].session == "kitchen"
    assert [record.message for record in caplog.records if "cannot be read" in record.message] == [
        "skipping alarms row 1: it cannot be read (Invalid isoformat string: 'not a time')"]


def test_alert_marked_after_announced(skills):
    set_timer(skills, 5)
    attempts = []

    def speaker_off(alert):
        attempts.append(alert.ref)
        return False  # not heard: the speaker could not play it

    scheduler = AlertScheduler(skills.context, speaker_off)
    assert scheduler.poll(NOW + timedelta(seconds=6)) == []
    assert not skills.context.memory.alert_done("alarms", attempts[0])  # not marked: it will be tried again
    assert scheduler.poll(NOW + timedelta(seconds=7)) == []  # the second failure gives up (and logs it)
    assert skills.context.memory.alert_done("alarms", attempts[0]) and len(attempts) == 2
    assert AlertScheduler(skills.context, speaker_off).poll(NOW + timedelta(seconds=8)) == []  # never again


def test_an_announcement_that_raises_is_retried_then_heard(skills):
    set_timer(skills, 5)
    calls = []

    def flaky(alert):
        calls.append(alert.text)
        if len(calls) == 1:
            raise ConnectionError("the satellite went away")

    scheduler = AlertScheduler(skills.context, flaky)
    assert scheduler.poll(NOW + timedelta(seconds=6)) == []
    assert [alert.text for alert in scheduler.poll(NOW + timedelta(seconds=6.5))] == ["Your timer for 5 seconds is done."]


def test_the_scheduler_thread_outlives_a_failing_round(skills):
    """A round that raises anything (here the clock itself) is logged; the next timer still rings."""
    set_timer(skills, 5)
    rung = threading.Event()
    ticks = iter([RuntimeError("clock unplugged"), NOW + timedelta(seconds=6)])

    def clock():
        value = next(ticks, NOW + timedelta(seconds=6))
        if isinstance(value, Exception):
            raise value
        return value

    context = skills.context
    scheduler = AlertScheduler(type(context)(context.settings, clock, context.store, context.memory),
                               lambda alert: rung.set(), poll_seconds=0.01)
    scheduler.start()
    try:
        assert rung.wait(60)
    finally:
        scheduler.stop()


def test_an_alert_with_nobody_to_hear_it_waits_for_a_listener(skills):
    """Just after a restart no satellite is connected yet (they redial with backoff): that is not a
    failed attempt. Before, two rounds (one second) with nobody connected gave the alert up for good."""
    set_timer(skills, 5, session="kitchen")
    listeners: list[str] = []
    heard = []

    def announce(alert):
        if not listeners:
            raise NoListenerError("no satellite is connected")
        heard.append(alert.text)

    scheduler = AlertScheduler(skills.context, announce)
    for seconds in range(6, 60):  # nearly a minute of rounds with nobody to tell
        assert scheduler.poll(NOW + timedelta(seconds=seconds)) == []
    assert not skills.context.memory.alert_done("alarms", 1)
    listeners.append("kitchen")  # a satellite is back
    assert [alert.text for alert in scheduler.poll(NOW + timedelta(seconds=61))] == ["Your timer for 5 seconds is done."]
    assert skills.context.memory.alert_done("alarms", 1) and heard == ["Your timer for 5 seconds is done."]


def test_an_alert_nobody_came_to_hear_is_missed_after_late_seconds(skills, caplog):
    set_timer(skills, 5)

    def nobody(alert):
        raise NoListenerError("no satellite is connected")

    scheduler = AlertScheduler(skills.context, nobody, late_seconds=600)
    assert scheduler.poll(NOW + timedelta(seconds=6)) == []
    assert not skills.context.memory.alert_done("alarms", 1)
    with caplog.at_level(logging.WARNING, logger="edge.runtime.alerts"):
        assert scheduler.poll(NOW + timedelta(seconds=5 + 601)) == []
    assert skills.context.memory.alert_done("alarms", 1)
    assert any(record.message.startswith("missed timer 1") for record in caplog.records)


def test_a_slow_listener_delays_no_other_alert(skills):
    """With several workers (the bridge: one listener per satellite), an alert whose satellite is
    slow to take it does not hold up the next one, and is not announced twice while it waits.
    Announced one by one, the soak's alerts fell a minute behind under load."""
    set_timer(skills, 5, session="slow")
    set_timer(skills, 6, session="quick")
    release = threading.Event()
    quick_heard = threading.Event()
    calls: list[str] = []

    def announce(alert):
        calls.append(alert.session)
        if alert.session == "slow":
            assert release.wait(60)
        else:
            quick_heard.set()

    settled = threading.Event()
    context = skills.context
    memory = context.memory

    class Memory:  # the real one, telling the test when the slow alert is marked done
        def __getattr__(self, name):
            return getattr(memory, name)

        def mark_alert_done(self, table, ref, when):
            memory.mark_alert_done(table, ref, when)
            if ref == 1:
                settled.set()

    scheduler = AlertScheduler(type(context)(context.settings, lambda: NOW + timedelta(seconds=7), context.store, Memory()),
                               announce, poll_seconds=0.01, workers=2)
    scheduler.start()
    try:
        assert quick_heard.wait(60)  # heard while the slow one is still being announced
        assert not context.memory.alert_done("alarms", 1) and calls.count("slow") == 1
        release.set()
        assert settled.wait(60)
    finally:
        release.set()
        scheduler.stop()
    assert context.memory.alert_done("alarms", 1) and context.memory.alert_done("alarms", 2)
    assert calls.count("slow") == 1 and calls.count("quick") == 1
