"""What the speaker remembers, per user, in the skills' SQLite database (WAL, one commit per change).

    memory = Memory(store)
    memory.remember("default", "home city", "shanghai");  memory.fact("default", "home city") -> "shanghai"
    memory.add_item("default", "shopping", "milk");       memory.items("default", "shopping") -> ["milk"]
    memory.add_reminder("default", "call mom", when);     memory.due_reminders(now)

Facts fill slots a user left out ("what's the weather" -> the remembered home city). Everything
here survives a restart and a crash (edge/skills/store.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from edge.skills.store import SkillStore

logger = logging.getLogger(__name__)

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS facts (
        user TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, updated TEXT NOT NULL,
        PRIMARY KEY (user, key))""",
    """CREATE TABLE IF NOT EXISTS list_items (
        id INTEGER PRIMARY KEY, user TEXT NOT NULL, list TEXT NOT NULL, item TEXT NOT NULL, added TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS reminders (
        id INTEGER PRIMARY KEY, user TEXT NOT NULL, text TEXT NOT NULL,
        fire_at TEXT NOT NULL,  -- ISO 8601 with its UTC offset
        created TEXT NOT NULL,
        session TEXT NOT NULL DEFAULT '')  -- the conversation that set it: its alert goes back there""",
    """CREATE TABLE IF NOT EXISTS device_state (key TEXT PRIMARY KEY, value TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS alerts_done (
        kind TEXT NOT NULL, ref INTEGER NOT NULL, fired_at TEXT NOT NULL, PRIMARY KEY (kind, ref))""",
)


@dataclass(frozen=True)
class Reminder:
    id: int
    user: str
    text: str
    fire_at: datetime


def fact_key(words: str) -> str:
    """'My Home-City' -> 'home city': facts are keyed by their plain words."""
    kept = [word for word in words.lower().replace("-", " ").split() if word not in {"my", "the", "our"}]
    return " ".join(kept)


class Memory:
    """Per-user facts, lists and reminders, plus small device state (volume)."""

    def __init__(self, store: SkillStore) -> None:
        self.store = store
        for statement in _SCHEMA:
            store.execute(statement)
        store.ensure_column("reminders", "session", "TEXT NOT NULL DEFAULT ''")

    # facts
    def remember(self, user: str, key: str, value: str, now: datetime | None = None) -> None:
        stamp = (now or datetime.now().astimezone()).isoformat()
        self.store.execute(
            "INSERT INTO facts (user, key, value, updated) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (user, key) DO UPDATE SET value = excluded.value, updated = excluded.updated",
            (user, fact_key(key), value.strip(), stamp),
        )
        logger.info("remembered %s's %s", user, fact_key(key))

    def fact(self, user: str, key: str) -> str | None:
        rows = self.store.execute("SELECT value FROM facts WHERE user = ? AND key = ?", (user, fact_key(key)))
        return rows[0]["value"] if rows else None

    def knows(self, key: str) -> bool:
        """Whether any user has a fact under `key`."""
        return bool(self.store.execute("SELECT 1 FROM facts WHERE key = ? LIMIT 1", (fact_key(key),)))

    def facts(self, user: str) -> dict[str, str]:
        rows = self.store.execute("SELECT key, value FROM facts WHERE user = ? ORDER BY key", (user,))
        return {row["key"]: row["value"] for row in rows}

    def forget(self, user: str, key: str) -> bool:
        existed = self.fact(user, key) is not None
        self.store.execute("DELETE FROM facts WHERE user = ? AND key = ?", (user, fact_key(key)))
        return existed

    # lists
    def add_item(self, user: str, list_name: str, item: str, now: datetime | None = None) -> bool:
        """Add `item`; False when it is already on the list."""
        if item.lower() in (existing.lower() for existing in self.items(user, list_name)):
            return False
        stamp = (now or datetime.now().astimezone()).isoformat()
        self.store.execute(
            "INSERT INTO list_items (user, list, item, added) VALUES (?, ?, ?, ?)", (user, list_name, item, stamp)
        )
        return True

    def items(self, user: str, list_name: str) -> list[str]:
        rows = self.store.execute(
            "SELECT item FROM list_items WHERE user = ? AND list = ? ORDER BY id", (user, list_name)
        )
        return [row["item"] for row in rows]

    def list_names(self) -> set[str]:
        """Names of the lists anyone has items on."""
        return {row["list"] for row in self.store.execute("SELECT DISTINCT list FROM list_items")}

    def remove_item(self, user: str, list_name: str, item: str) -> bool:
        before = len(self.items(user, list_name))
        self.store.execute(
            "DELETE FROM list_items WHERE user = ? AND list = ? AND lower(item) = lower(?)", (user, list_name, item)
        )
        return len(self.items(user, list_name)) < before

    def clear_list(self, user: str, list_name: str) -> int:
        count = len(self.items(user, list_name))
        self.store.execute("DELETE FROM list_items WHERE user = ? AND list = ?", (user, list_name))
        return count

    # reminders
    def add_reminder(self, user: str, text: str, fire_at: datetime, now: datetime, session: str = "") -> Reminder:
        rows = self.store.execute(
            "INSERT INTO reminders (user, text, fire_at, created, session) VALUES (?, ?, ?, ?, ?) RETURNING id",
            (user, text, fire_at.isoformat(), now.isoformat(), session),
        )
        return Reminder(int(rows[0]["id"]), user, text, fire_at)

    def reminders(self, user: str | None = None) -> list[Reminder]:
        """All reminders (of `user`), soonest first, fired ones included."""
        rows = self.store.execute("SELECT id, user, text, fire_at FROM reminders")
        found = [Reminder(row["id"], row["user"], row["text"], datetime.fromisoformat(row["fire_at"])) for row in rows]
        return sorted((item for item in found if user is None or item.user == user), key=lambda item: item.fire_at)

    def remove_reminder(self, reminder_id: int) -> None:
        self.store.execute("DELETE FROM reminders WHERE id = ?", (reminder_id,))

    # device state and fired alerts
    def state(self, key: str, default: str = "") -> str:
        rows = self.store.execute("SELECT value FROM device_state WHERE key = ?", (key,))
        return rows[0]["value"] if rows else default

    def set_state(self, key: str, value: str) -> None:
        self.store.execute(
            "INSERT INTO device_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def alert_done(self, kind: str, ref: int) -> bool:
        return bool(self.store.execute("SELECT 1 FROM alerts_done WHERE kind = ? AND ref = ?", (kind, ref)))

    def mark_alert_done(self, kind: str, ref: int, fired_at: datetime) -> None:
        self.store.execute(
            "INSERT OR IGNORE INTO alerts_done (kind, ref, fired_at) VALUES (?, ?, ?)", (kind, ref, fired_at.isoformat())
        )
