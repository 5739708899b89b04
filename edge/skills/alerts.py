"""Say timers, alarms and reminders aloud when they are due.

    scheduler = AlertScheduler(loaded.context, announce=lambda alert: speak(alert.text))
    scheduler.start()        # a daemon thread polling every `poll_seconds`
    ...
    scheduler.stop()

`poll(now)` does one round by hand (tests, or a loop that has its own timer). Each alert is
announced once: it is marked in the database (`alerts_done`) before `announce` is called, so a
restart does not repeat it. An alert found more than `late_seconds` after it was due (the
speaker was off) is marked and logged as missed rather than announced.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from edge.skills.alarms import TIMER_LABEL
from edge.skills.clock import describe_duration, format_clock
from edge.skills.declared import SkillContext
from edge.skills.store import StoreError

logger = logging.getLogger(__name__)

# Rows of an alert table not yet announced (alerts_done is created by Memory).
_NOT_DONE = ("SELECT {columns} FROM {table} WHERE id NOT IN "
             "(SELECT ref FROM alerts_done WHERE kind = '{table}')")


@dataclass(frozen=True)
class Alert:
    kind: str  # timer | alarm | reminder
    ref: int  # row id in its table
    due: datetime
    text: str  # what the speaker says
    user: str = ""

    @property
    def table(self) -> str:
        return "reminders" if self.kind == "reminder" else "alarms"


class AlertScheduler:
    def __init__(self, context: SkillContext, announce: Callable[[Alert], None], poll_seconds: float = 0.5,
                 late_seconds: float = 600.0) -> None:
        self.context = context
        self.announce = announce
        self.poll_seconds = poll_seconds
        self.late_seconds = late_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def due(self, now: datetime) -> list[Alert]:
        """Alerts due at `now` that were not announced yet, oldest first."""
        alerts = [alert for alert in self._alarms(now) + self._reminders() if alert.due <= now]
        return sorted(alerts, key=lambda alert: alert.due)

    def poll(self, now: datetime | None = None) -> list[Alert]:
        """Announce what is due; returns the alerts announced."""
        now = now or self.context.clock()
        announced = []
        with self._lock:
            for alert in self.due(now):
                self.context.memory.mark_alert_done(alert.table, alert.ref, now)
                if now - alert.due > timedelta(seconds=self.late_seconds):
                    logger.warning("missed %s %d due at %s (the speaker was not running)", alert.kind, alert.ref,
                                   alert.due.isoformat())
                    continue
                try:
                    self.announce(alert)
                except Exception:  # a failing speaker must not stop the alerts
                    logger.exception("announcing %s %d failed", alert.kind, alert.ref)
                announced.append(alert)
        return announced

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="alerts", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def next_due(self, now: datetime) -> datetime | None:
        """When the next alert is due (for a caller that waits for it)."""
        pending = [alert.due for alert in self._alarms(now) + self._reminders()]
        return min(pending) if pending else None

    def _run(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.poll()
            except StoreError:
                logger.exception("could not read alarms and reminders")

    def _alarms(self, now: datetime) -> list[Alert]:
        try:
            rows = self.context.store.execute(_NOT_DONE.format(columns="id, fire_at, label, created", table="alarms"))
        except StoreError:  # no alarm skill has created its table yet
            return []
        alerts = []
        for row in rows:
            due, created = datetime.fromisoformat(row["fire_at"]), datetime.fromisoformat(row["created"])
            if row["label"] == TIMER_LABEL:
                text = f"Your timer for {describe_duration(due - created)} is done."
                alerts.append(Alert("timer", row["id"], due, text))
            else:
                label = "" if row["label"] == "alarm" else f" for {row['label']}"
                alerts.append(Alert("alarm", row["id"], due, f"It's {format_clock(due.astimezone(now.tzinfo))}. "
                                                              f"This is your alarm{label}."))
        return alerts

    def _reminders(self) -> list[Alert]:
        rows = self.context.store.execute(_NOT_DONE.format(columns="id, user, text, fire_at", table="reminders"))
        return [Alert("reminder", row["id"], datetime.fromisoformat(row["fire_at"]), f"Reminder: {row['text']}.",
                      row["user"]) for row in rows]
