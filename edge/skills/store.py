"""One small SQLite database for all skills that keep state (alarms today, lists later).

The runtime calls skills from a worker thread, so the connection is opened once with
`check_same_thread=False` and every statement runs under a lock. WAL journaling lets a
reader (a status page, a second process) look while a skill writes.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

IN_MEMORY = ":memory:"


class StoreError(Exception):
    """The skill database could not be opened or used; the message says which file."""


class SkillStore:
    """A thread-safe SQLite connection: `execute()` runs one statement and commits."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path) if str(path) == IN_MEMORY else str(Path(path).expanduser())
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        try:
            if self.path != IN_MEMORY:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._connection = sqlite3.connect(self.path, check_same_thread=False)
            self._connection.row_factory = sqlite3.Row
            mode = self._connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        except (OSError, sqlite3.Error) as error:
            self.close()
            raise StoreError(
                f"cannot open the skill database {self.path}: {error}; "
                "set skills.database_path to a writable file"
            ) from error
        logger.debug("opened skill database %s (journal mode %s)", self.path, mode)

    def execute(
        self, sql: str, parameters: Sequence[Any] | Mapping[str, Any] = ()
    ) -> list[sqlite3.Row]:
        """Run one statement, commit, and return its rows (empty for writes)."""
        with self._lock:
            if self._connection is None:
                raise StoreError(f"the skill database {self.path} is closed")
            try:
                rows = self._connection.execute(sql, parameters).fetchall()
                self._connection.commit()
            except sqlite3.Error as error:
                self._connection.rollback()
                raise StoreError(f"{self.path}: {error} in {sql.split()[0]} statement") from error
        return rows

    def journal_mode(self) -> str:
        return str(self.execute("PRAGMA journal_mode")[0][0])

    def close(self) -> None:
        """Close the connection; closing twice is harmless."""
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def __enter__(self) -> SkillStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
