"""One small SQLite database for all skills that keep state (alarms, memory, lists, bookings).

The runtime calls skills from a worker thread, so the connection is opened once with
`check_same_thread=False` and every statement runs under a lock. WAL journaling lets a
reader (a status page, a second process) look while a skill writes; every statement commits,
so a crash loses nothing that was answered.

The file is opened by the runtime's one SQLite opener (edge/core/storage.py): a file that is not
a healthy SQLite database is renamed to `<name>.corrupt-<YYYYmmdd-HHMMSS>`, never written over,
and a fresh database is started (`recovered_from` holds the backup path).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from edge.core.errors import StorageError
from edge.core.storage import IN_MEMORY, open_database

logger = logging.getLogger(__name__)



class StoreError(StorageError):
    """The skill database could not be opened or used; the message says which file."""


class SkillStore:
    """A thread-safe SQLite connection: `execute()` runs one statement and commits."""

    def __init__(self, path: str | Path, back_up_corrupt: bool = True) -> None:
        self.path = str(path) if str(path) == IN_MEMORY else str(Path(path).expanduser())
        self._lock = threading.Lock()
        try:
            opened = open_database(self.path, "the skill database", "set skills.database_path to a writable file",
                                   back_up_corrupt=back_up_corrupt, row_factory=sqlite3.Row)
        except StorageError as error:
            raise StoreError(str(error)) from error
        self._connection: sqlite3.Connection | None = opened.connection
        self.recovered_from: str | None = opened.recovered_from  # the backup of a corrupt file this store replaced

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

    def ensure_column(self, table: str, column: str, declaration: str) -> None:
        """Add `column` to an existing `table` made before the column existed (a schema upgrade)."""
        names = {row["name"] for row in self.execute(f"PRAGMA table_info({table})")}
        if column not in names:
            self.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")

    def journal_mode(self) -> str:
        return str(self.execute("PRAGMA journal_mode")[0][0])

    def close(self) -> None:
        """Close the connection; closing twice is harmless."""
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def transaction(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        """Run several writes as one transaction: all of them, or (on an error) none."""
        with self._lock:
            if self._connection is None:
                raise StoreError(f"the skill database {self.path} is closed")
            try:
                with self._connection:
                    for sql, parameters in statements:
                        self._connection.execute(sql, parameters)
            except sqlite3.Error as error:
                raise StoreError(f"{self.path}: {error}") from error

    def __enter__(self) -> SkillStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
