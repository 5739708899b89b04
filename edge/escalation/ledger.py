"""The privacy ledger: every request that leaves the device, what it carried, where, and why.

One SQLite file (`router.ledger_path`). A row is written *before* the request is sent (so a
crash mid-request still leaves a record) and its outcome is filled in afterwards. Requests to
the on-device llama.cpp server never leave the device and are not recorded. When the cloud model
answers with tool calls, what it asked the speaker to do, and what the local skill did, are added to
its row (`tool_calls`). `edge data privacy` prints the ledger.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from edge.core.errors import StorageError
from edge.core.storage import open_database

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS escalations (
    id INTEGER PRIMARY KEY,
    created TEXT NOT NULL,          -- UTC, ISO 8601
    endpoint TEXT NOT NULL,         -- the URL the text went to
    purpose TEXT NOT NULL,          -- answer | intent-label
    reason TEXT NOT NULL,           -- the routing reason
    sent TEXT NOT NULL,             -- JSON: exactly the messages (or prompt) that left the device
    redactions TEXT NOT NULL,       -- JSON: {"phone": 1, ...} replaced before sending
    outcome TEXT NOT NULL DEFAULT 'sending',
    tool_calls TEXT NOT NULL DEFAULT '[]'  -- JSON: the model's tool calls and what ran on the device
)
"""


class LedgerError(StorageError):
    """The ledger database cannot be opened or written."""


@dataclass(frozen=True)
class LedgerEntry:
    id: int
    created: str
    endpoint: str
    purpose: str
    reason: str
    sent: list | str
    redactions: dict[str, int]
    outcome: str
    tool_calls: list = field(default_factory=list)  # [{"name", "arguments", "skill", "said", ...}]


class PrivacyLedger:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            opened = open_database(path, "the privacy ledger", "set router.ledger_path to a writable file",
                                   isolation_level=None)
            self._db = opened.connection
            self._db.execute(_SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(escalations)")}
            if "tool_calls" not in columns:  # a ledger made before tool calls
                self._db.execute("ALTER TABLE escalations ADD COLUMN tool_calls TEXT NOT NULL DEFAULT '[]'")
        except (StorageError, sqlite3.Error) as error:
            raise LedgerError(str(error)) from error
        self.recovered_from = opened.recovered_from  # a corrupt ledger was moved here; the runtime started anyway
        self._lock = threading.Lock()

    def record(self, endpoint: str, purpose: str, reason: str, sent: list | str, redactions: dict[str, int]) -> int:
        created = datetime.now(UTC).isoformat(timespec="milliseconds")
        try:
            with self._lock:
                cursor = self._db.execute(
                    "INSERT INTO escalations (created, endpoint, purpose, reason, sent, redactions) VALUES (?, ?, ?, ?, ?, ?)",
                    (created, endpoint, purpose, reason, json.dumps(sent, ensure_ascii=False), json.dumps(redactions)),
                )
        except sqlite3.Error as error:
            raise LedgerError(f"cannot write the privacy ledger {self.path}: {error}; nothing was sent") from error
        return int(cursor.lastrowid)

    def set_outcome(self, entry_id: int, outcome: str) -> None:
        with self._lock:
            self._db.execute("UPDATE escalations SET outcome = ? WHERE id = ?", (outcome[:300], entry_id))

    def record_tool_calls(self, entry_id: int, calls: list[dict]) -> None:
        """What the model asked the speaker to do in answer to entry `entry_id`, and what was done."""
        try:
            with self._lock:
                self._db.execute("UPDATE escalations SET tool_calls = ? WHERE id = ?",
                                 (json.dumps(calls, ensure_ascii=False), entry_id))
        except sqlite3.Error as error:
            raise LedgerError(f"cannot write the privacy ledger {self.path}: {error}") from error

    def entries(self, limit: int = 50) -> list[LedgerEntry]:
        """The newest `limit` entries, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, created, endpoint, purpose, reason, sent, redactions, outcome, tool_calls FROM escalations "
                "ORDER BY id DESC LIMIT ?", (limit,),
            ).fetchall()
        return [
            LedgerEntry(row[0], row[1], row[2], row[3], row[4], json.loads(row[5]), json.loads(row[6]), row[7],
                        json.loads(row[8]))
            for row in reversed(rows)
        ]

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM escalations").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
