"""Timers, alarms and reminders, announced when they are due, by whichever front end is running.

    scheduler = turn.alert_scheduler(announce)   # announce(alert) -> True when it was heard
    scheduler.start()                            # a daemon thread polling every `poll_seconds`
    ...
    scheduler.stop()

`poll(now)` does one round by hand: the live loop calls it with its stream clock between
requests, so an alarm in a recording rings at its place in the recording.

Each announcement runs on one of `workers` threads (default 1: one loudspeaker says one thing at a
time). A front end with many listeners (`edge bridge serve`, one per satellite) uses several, so an
alert for one satellite never queues behind another's: the soak found alerts announced one by one
falling a minute behind under load. The polling thread never waits for an announcement; an alert
being announced is not picked up again until it is settled. Each front end says
how an alert is heard: `edge run` speaks it, `edge bridge serve` sends it to the satellite that set it
(to every satellite when it was set on the speaker itself), `edge chat` prints it.

An alert is marked done (`alerts_done`) only after `announce` succeeded, or after a second
failed attempt (logged), so a restart neither repeats a rung alert nor loses an unrung one. When
nobody can hear it yet (`announce` raises `NoListenerError`: no satellite is connected, e.g. just
after a restart, while they redial) that is not an attempt: the alert waits for a listener. An
alert found more than `late_seconds` after it was due (the speaker was off, or nobody came) is
marked and logged as missed. A row that cannot be read is logged once and skipped; nothing stops
the scheduler.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from edge.core.errors import PeerError
from edge.skills.builtin.alarms import TIMER_LABEL
from edge.skills.declared import SkillContext
from edge.skills.phrasing import describe_duration, format_clock
from edge.skills.store import StoreError

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 2  # an announcement that failed twice is given up (and logged), not retried forever

# Rows of an alert table not yet announced (alerts_done is created by Memory).
_NOT_DONE = ("SELECT * FROM {table} WHERE id NOT IN "
             "(SELECT ref FROM alerts_done WHERE kind = '{table}')")


@dataclass(frozen=True)
class Alert:
    kind: str  # timer | alarm | reminder
    ref: int  # row id in its table
    due: datetime
    text: str  # what the speaker says
    user: str = ""
    session: str = ""  # the conversation that set it ("" unknown): a satellite's name, "local", "chat"…

    @property
    def table(self) -> str:
        return "reminders" if self.kind == "reminder" else "alarms"


Announce = Callable[[Alert], bool | None]  # False (or an exception): not heard, try again


class NoListenerError(PeerError):
    """Raised by an `announce` that has nobody to tell right now (no satellite connected): the
    alert waits, without counting as a failed attempt, until someone can hear it or it is missed."""


class AlertScheduler:
    def __init__(self, context: SkillContext, announce: Announce, poll_seconds: float = 0.5,
                 late_seconds: float = 600.0, workers: int = 1) -> None:
        self.context = context
        self.announce = announce
        self.poll_seconds = poll_seconds
        self.late_seconds = late_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.RLock()  # guards _attempts, _waiting, _in_flight (workers settle concurrently)
        self._worker_count = max(1, workers)
        self._workers: ThreadPoolExecutor | None = None  # made on first use, again after stop()
        self._in_flight: dict[tuple[str, int], Future[bool]] = {}  # being announced on a worker
        self._attempts: dict[tuple[str, int], int] = {}
        self._bad_rows: set[tuple[str, int]] = set()
        self._outcomes: dict[tuple[str, str], int] = {}  # (kind, due|rung|given_up|missed) -> count, for /metrics
        self._outcomes_lock = threading.Lock()
        self._waiting: set[tuple[str, int]] = set()  # alerts due with nobody to hear them (logged once)

    def outcomes(self) -> dict[tuple[str, str], int]:
        """How many alerts of each kind fell due, were rung (heard), given up or missed, since start."""
        with self._outcomes_lock:
            return dict(self._outcomes)

    def _count(self, alert: Alert, outcome: str) -> None:
        with self._outcomes_lock:
            key = (alert.kind, outcome)
            self._outcomes[key] = self._outcomes.get(key, 0) + 1

    def due(self, now: datetime) -> list[Alert]:
        """Alerts due at `now` that were not announced yet, oldest first."""
        alerts = [alert for alert in self._pending(now) if alert.due <= now]
        return sorted(alerts, key=lambda alert: alert.due)

    def next_due(self, now: datetime) -> datetime | None:
        """When the next alert is due (for a caller that waits for it)."""
        pending = [alert.due for alert in self._pending(now)]
        return min(pending) if pending else None

    def poll(self, now: datetime | None = None) -> list[Alert]:
        """Announce what is due and wait for those announcements; returns the alerts that were heard."""
        started = self._dispatch(now or self.context.clock())
        return [alert for alert, announced in started if announced.result()]

    def _dispatch(self, now: datetime) -> list[tuple[Alert, Future[bool]]]:
        """Start announcing each due alert not already being announced; mark the missed ones."""
        started = []
        for alert in self.due(now):
            key = (alert.table, alert.ref)
            with self._lock:
                if key in self._in_flight:
                    continue
                if key not in self._attempts and key not in self._waiting:  # a retry is not due again
                    self._count(alert, "due")
                if now - alert.due > timedelta(seconds=self.late_seconds):
                    logger.warning("missed %s %d due at %s (the speaker was not running)", alert.kind, alert.ref,
                                   alert.due.isoformat())
                    self._count(alert, "missed")
                    self._done(alert, now)
                    continue
                # Under the lock: the worker cannot settle (and drop the key) before it is recorded.
                self._in_flight[key] = announced = self._pool().submit(self._announce_and_settle, alert, now)
            started.append((alert, announced))
        return started

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._workers is None:
                self._workers = ThreadPoolExecutor(max_workers=self._worker_count, thread_name_prefix="alert")
            return self._workers

    def _announce_and_settle(self, alert: Alert, now: datetime) -> bool:
        """On a worker: announce once, then mark it done when heard or given up."""
        try:
            outcome = self._try(alert)
            if outcome is not None:
                self._count(alert, "rung" if outcome else "given_up")
                self._done(alert, now)
            return bool(outcome)
        except Exception:  # marking it failed (the store): it is tried again on a later round
            logger.exception("settling %s %d failed", alert.kind, alert.ref)
            return False
        finally:
            with self._lock:
                self._in_flight.pop((alert.table, alert.ref), None)

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="alerts", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop polling. An announcement still on a worker is not waited for: one never settled is
        not marked done, so it is announced again after a restart rather than lost."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        with self._lock:
            workers, self._workers = self._workers, None
            if workers is not None:
                workers.shutdown(wait=False, cancel_futures=True)
            for key, announced in list(self._in_flight.items()):
                if announced.cancelled():  # never started: due again after a start
                    del self._in_flight[key]

    def _try(self, alert: Alert) -> bool | None:
        """Announce once: True when heard, False when given up after `MAX_ATTEMPTS` failures (logged),
        None when it failed and will be tried again on the next round."""
        key = (alert.table, alert.ref)
        try:
            heard = self.announce(alert) is not False
        except NoListenerError as error:
            with self._lock:
                first_wait = key not in self._waiting
                self._waiting.add(key)
            if first_wait:
                logger.info("%s %d is due but %s; it waits (missed after %.0f s)", alert.kind, alert.ref, error,
                            self.late_seconds)
            return None
        except Exception:  # a failing speaker or satellite must not stop the alerts
            logger.exception("announcing %s %d failed", alert.kind, alert.ref)
            heard = False
        with self._lock:
            if heard:
                self._attempts.pop(key, None)
                return True
            attempts = self._attempts[key] = self._attempts.get(key, 0) + 1
            if attempts < MAX_ATTEMPTS:
                return None
            del self._attempts[key]
        logger.error("gave up announcing %s %d (%r) after %d attempts", alert.kind, alert.ref, alert.text, attempts)
        return False

    def _done(self, alert: Alert, now: datetime) -> None:
        self.context.memory.mark_alert_done(alert.table, alert.ref, now)
        with self._lock:
            self._waiting.discard((alert.table, alert.ref))

    def _run(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self._dispatch(self.context.clock())  # not waited for: a slow listener holds up no round
            except StoreError:
                logger.exception("could not read alarms and reminders")
            except Exception:  # the scheduler outlives any one bad round
                logger.exception("an alert round failed; the next one runs in %.1f s", self.poll_seconds)

    def _pending(self, now: datetime) -> list[Alert]:
        alerts = []
        for table, read in (("alarms", _alarm), ("reminders", _reminder)):
            try:
                rows = self.context.store.execute(_NOT_DONE.format(table=table))
            except StoreError:  # no skill has created this table yet
                continue
            for row in rows:
                alert = self._read(table, row, read, now)
                if alert is not None:
                    alerts.append(alert)
        return alerts

    def _read(self, table: str, row: Any, read: Callable[[Any, datetime], Alert], now: datetime) -> Alert | None:
        try:
            return read(row, now)
        except (KeyError, IndexError, TypeError, ValueError) as error:
            key = (table, int(row["id"]))
            if key not in self._bad_rows:
                self._bad_rows.add(key)
                logger.error("skipping %s row %d: it cannot be read (%s)", table, key[1], error)
            return None


def _session(row: Any) -> str:
    return row["session"] if "session" in row.keys() else ""


def _alarm(row: Any, now: datetime) -> Alert:
    due, created = _aware(row["fire_at"]), _aware(row["created"])
    if row["label"] == TIMER_LABEL:
        name = row["name"] if "name" in row.keys() else ""
        said = f"Your {name} timer is done." if name else f"Your timer for {describe_duration(due - created)} is done."
        return Alert("timer", row["id"], due, said, session=_session(row))
    label = "" if row["label"] == "alarm" else f" for {row['label']}"
    return Alert("alarm", row["id"], due, f"It's {format_clock(due.astimezone(now.tzinfo))}. This is your alarm{label}.",
                 session=_session(row))


def _reminder(row: Any, now: datetime) -> Alert:
    return Alert("reminder", row["id"], _aware(row["fire_at"]), f"Reminder: {row['text']}.", row["user"], _session(row))


def _aware(text: str) -> datetime:
    """An ISO 8601 time with its UTC offset; anything else is a bad row."""
    when = datetime.fromisoformat(text)
    if when.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset")
    return when
