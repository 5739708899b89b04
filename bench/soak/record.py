"""What the soak saw, and what it checks against the runtime's databases afterwards.

    record = Record()
    record.turn(...); record.ack(...); record.ring(...)      # from the satellites, the board, the screen
    lost = rows_lost(database, record.acks[:committed])      # after a kill -9 and restart
    alerts = alert_accounting(database, record, until)       # every alert due by `until`: rung or not

An acknowledgement is a reply that says a row was written ("Timer set for 5 seconds.", "Added
milk to your shopping list.", "Okay, I'll remind you to call mom at 6:16 AM today."): the
runtime told the user it is kept, so it must be there after any crash. Rows are never deleted
during the soak, so a key's rows can only be fewer than its acknowledgements if some were lost.
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.soak.requests import ACKNOWLEDGED
from edge.skills.builtin.alarms import TIMER_LABEL
from edge.skills.phrasing import describe_duration

RING_SLACK_SECONDS = 1.0  # a ring may be heard this long before its row's time (clock granularity)
SAME_RING_SECONDS = 3.0  # one alert sent to several satellites at once: their copies arrive this close


@dataclass(frozen=True)
class TurnOutcome:
    satellite: str
    kind: str
    text: str
    started: float  # wall-clock seconds (time.time)
    incarnation: int  # which start of the runtime served it (0, 1, 2…)
    answered: bool
    latency_ms: float | None = None  # audio-stop written -> first reply audio read
    reply: str | None = None
    error: str | None = None  # an error event's code, or what happened (connection-lost, timeout)


@dataclass(frozen=True)
class Ack:
    satellite: str
    kind: str  # timer | reminder | item
    what: str  # "5 seconds", "call mom", "milk"
    at: float
    incarnation: int

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, "" if self.kind == "item" else self.satellite, self.what)


@dataclass(frozen=True)
class Ring:
    satellite: str  # "" for the UART board, which hears audio but no words
    text: str
    at: float


@dataclass
class Record:
    turns: list[TurnOutcome] = field(default_factory=list)
    acks: list[Ack] = field(default_factory=list)
    rings: list[Ring] = field(default_factory=list)
    cards: list[dict[str, Any]] = field(default_factory=list)  # what the companion's page received
    incarnation: int = 0
    writes_in_flight: int = 0  # write requests being asked whose reply has not come back
    on_ack: Callable[[Ack], None] | None = None  # the kill waits for an acknowledgement with a write in flight

    def ack_from(self, satellite: str, kind: str, reply: str | None) -> Ack | None:
        """Record `reply` as an acknowledgement when it says a row of `kind` was written."""
        pattern = ACKNOWLEDGED.get(kind)
        found = pattern.match(reply or "") if pattern is not None else None
        if found is None:
            return None
        ack = Ack(satellite, kind, found.group("what"), time.time(), self.incarnation)
        self.acks.append(ack)
        if self.on_ack is not None:
            self.on_ack(ack)
        return ack


def _rows(database: Path, sql: str) -> list[sqlite3.Row]:
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
    connection.row_factory = sqlite3.Row
    try:
        return connection.execute(sql).fetchall()
    except sqlite3.OperationalError as error:
        if "no such table" in str(error):
            return []
        raise
    finally:
        connection.close()


def _timer_words(row: sqlite3.Row) -> str:
    return describe_duration(datetime.fromisoformat(row["fire_at"]) - datetime.fromisoformat(row["created"]))


def stored_keys(database: Path) -> Counter:
    """How many rows each acknowledgement key has in the skills' database."""
    found: Counter = Counter()
    for row in _rows(database, f"SELECT * FROM alarms WHERE label = '{TIMER_LABEL}'"):
        found["timer", row["session"] or "", _timer_words(row)] += 1
    for row in _rows(database, "SELECT * FROM reminders"):
        found["reminder", row["session"] or "", row["text"]] += 1
    for row in _rows(database, "SELECT * FROM list_items"):
        found["item", "", row["item"]] += 1
    return found


def rows_check(database: Path, acks: list[Ack]) -> dict[str, Any]:
    """Acknowledged rows vs rows present: `lost` lists the keys with fewer rows than acknowledgements."""
    wanted = Counter(ack.key for ack in acks)
    stored = stored_keys(database)
    lost = {" / ".join(key): wanted[key] - stored[key] for key in wanted if stored[key] < wanted[key]}
    present = sum(min(count, stored[key]) for key, count in wanted.items())
    return {"committed": len(acks), "present": present, "lost": sum(lost.values()), "lost_keys": lost}


@dataclass(frozen=True)
class DueAlert:
    table: str
    ref: int
    session: str
    text: str  # what the runtime says when it rings (edge/runtime/alerts.py)
    due: float


def due_alerts(database: Path, until: float) -> list[DueAlert]:
    """The timers and reminders whose time came by `until` (wall-clock seconds)."""
    found = []
    for row in _rows(database, f"SELECT * FROM alarms WHERE label = '{TIMER_LABEL}'"):
        found.append(DueAlert("alarms", row["id"], row["session"] or "", f"Your timer for {_timer_words(row)} is done.",
                              datetime.fromisoformat(row["fire_at"]).timestamp()))
    for row in _rows(database, "SELECT * FROM reminders"):
        found.append(DueAlert("reminders", row["id"], row["session"] or "", f"Reminder: {row['text']}.",
                              datetime.fromisoformat(row["fire_at"]).timestamp()))
    return sorted((alert for alert in found if alert.due <= until), key=lambda alert: alert.due)


def alert_accounting(database: Path, rings: list[Ring], until: float,
                     downtimes: list[tuple[float, float]] = ()) -> dict[str, Any]:
    """Each alert due by `until` matched to a ring heard after its time, in two passes. First each
    ring on a satellite goes to that satellite's latest alert of its words due by then. Then the rest (their
    owner was away, so the alert went to every peer connected) take a ring of the UART board (it
    hears audio but no words), else of their words on another satellite, whose copies on the
    others are used up with it. `downtimes`: when the runtime was down (killed until ready
    again); alerts due then are counted apart.

    Matching by words alone in one pass undercounted: two satellites' timers of the same length due
    a few seconds apart read as one alert sent to both, and an alert that went to the board alone
    (the satellites still redialling after a restart) took a later alert's ring, which then had none
    (a minute "late", and "not rung", though the runtime had sent each within a second)."""
    due = due_alerts(database, until)
    while_down = {id(alert) for alert in due if any(killed <= alert.due <= ready for killed, ready in downtimes)}
    spoken = sorted((ring for ring in rings if ring.satellite), key=lambda ring: ring.at)
    board = sorted((ring for ring in rings if not ring.satellite), key=lambda ring: ring.at)
    used: set[int] = set()
    used_board: set[int] = set()
    rung_at: dict[int, tuple[float, bool]] = {}  # id(alert) -> (when, on the board)

    def after_due(alert: DueAlert, ring: Ring) -> bool:
        return ring.at >= alert.due - RING_SLACK_SECONDS

    for index, ring in enumerate(spoken):  # pass 1: each ring to its satellite's latest alert of its words due by then
        owner = [alert for alert in due if id(alert) not in rung_at and alert.session == ring.satellite
                 and alert.text == ring.text and after_due(alert, ring)]
        if owner:
            used.add(index)
            rung_at[id(owner[-1])] = (ring.at, False)
    for alert in due:  # pass 2: sent to everyone connected
        if id(alert) in rung_at:
            continue
        match = next((index for index, ring in enumerate(board) if index not in used_board and after_due(alert, ring)), None)
        if match is not None:
            used_board.add(match)
            rung_at[id(alert)] = (board[match].at, True)
            continue
        candidates = [index for index, ring in enumerate(spoken) if index not in used and ring.text == alert.text
                      and after_due(alert, ring)]
        if candidates:
            first = spoken[candidates[0]]
            used.update(index for index in candidates if abs(spoken[index].at - first.at) < SAME_RING_SECONDS)
            rung_at[id(alert)] = (first.at, False)
    late = [rung_at[id(alert)][0] - alert.due for alert in due if id(alert) in rung_at]
    to_board = sum(on_board for _, on_board in rung_at.values())
    unrung = [{**asdict(alert), "while_down": id(alert) in while_down} for alert in due if id(alert) not in rung_at]
    done = {(row["kind"], row["ref"]) for row in _rows(database, "SELECT kind, ref FROM alerts_done")}
    return {
        "due": len(due), "rung": len(due) - len(unrung), "rung_on_the_board_only": to_board,
        "due_while_the_runtime_was_down": len(while_down),
        "rung_of_those": len(while_down) - sum(alert["while_down"] for alert in unrung),
        "marked_done_by_the_runtime": sum((alert.table, alert.ref) in done for alert in due),
        "seconds_late_max": round(max(late), 2) if late else None,
        "seconds_late_p95": round(sorted(late)[int(0.95 * (len(late) - 1))], 2) if late else None,
        "not_rung": unrung,
    }
