"""The soak's alert accounting on a real skills database: each alert is matched to the ring its
own satellite heard. Matched by words alone, two satellites' timers of the same length due a
second apart read as one alert sent to both, and every later one of those words was a minute
"late" (the 10-minute soak reported alerts 65-130 s late that the runtime had logged as
announced within a second)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

from bench.soak.record import Ring, alert_accounting

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def timers_database(path, timers: list[tuple[str, int, float]]):
    """`timers`: (session, seconds long, due at seconds after T0) rows, as the timer skill writes them."""
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE alarms (id INTEGER PRIMARY KEY, fire_at TEXT, label TEXT, created TEXT, session TEXT)")
    connection.execute("CREATE TABLE reminders (id INTEGER PRIMARY KEY, fire_at TEXT, text TEXT, user TEXT, session TEXT)")
    connection.execute("CREATE TABLE alerts_done (kind TEXT, ref INTEGER, fired_at TEXT)")
    connection.execute("CREATE TABLE list_items (id INTEGER PRIMARY KEY, item TEXT)")
    for session, seconds, due in timers:
        fire = T0 + timedelta(seconds=due)
        connection.execute("INSERT INTO alarms (fire_at, label, created, session) VALUES (?, 'timer', ?, ?)",
                           (fire.isoformat(), (fire - timedelta(seconds=seconds)).isoformat(), session))
    connection.commit()
    connection.close()
    return path


def test_same_words_on_two_satellites_are_two_alerts(tmp_path):
    database = timers_database(tmp_path / "edge.sqlite3", [("sat-1", 6, 10), ("sat-2", 6, 11), ("sat-1", 6, 70)])
    words = "Your timer for 6 seconds is done."
    at = T0.timestamp()
    rings = [Ring("sat-1", words, at + 10.4), Ring("sat-2", words, at + 11.3), Ring("sat-1", words, at + 70.5)]
    result = alert_accounting(database, rings, until=at + 100)
    assert (result["due"], result["rung"], result["not_rung"]) == (3, 3, [])
    assert result["seconds_late_max"] < 1


def test_an_alert_sent_to_all_is_one_ring_and_a_lost_one_is_not_rung(tmp_path):
    database = timers_database(tmp_path / "edge.sqlite3", [("sat-9", 6, 10), ("sat-1", 6, 40)])
    words = "Your timer for 6 seconds is done."
    at = T0.timestamp()
    # sat-9 was away: its timer went to sat-1 and sat-2; sat-1's own timer at 40 s never arrived
    rings = [Ring("sat-1", words, at + 10.2), Ring("sat-2", words, at + 10.3)]
    result = alert_accounting(database, rings, until=at + 100)
    assert result["rung"] == 1 and [alert["ref"] for alert in result["not_rung"]] == [2]


def test_an_alert_the_board_alone_heard_takes_no_later_ring(tmp_path):
    """Just after a restart the board is back before the satellites redial: an alert whose owner is
    away goes to the board alone, and must not take the owner's next alert of the same words."""
    database = timers_database(tmp_path / "edge.sqlite3", [("sat-7", 6, 10), ("sat-7", 6, 80)])
    words = "Your timer for 6 seconds is done."
    at = T0.timestamp()
    rings = [Ring("", words, at + 10.5), Ring("sat-7", words, at + 80.3)]
    result = alert_accounting(database, rings, until=at + 100)
    assert (result["rung"], result["rung_on_the_board_only"], result["not_rung"]) == (2, 1, [])
    assert result["seconds_late_max"] < 1
