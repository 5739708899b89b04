"""One small SQLite database for all skills that keep state (alarms, memory, lists, bookings).

The runtime calls skills from a worker thread, so the connection is opened once with
`check_same_thread=False` and every statement runs under a lock. WAL journaling lets a
reader (a status page, a second process) look while a skill writes; every statement commits,
so a crash loses nothing that was answered.

A file that is not a healthy SQLite database (`PRAGMA quick_check` fails, or SQLite says
"file is not a database") is never written over: it is renamed to
`<name>.corrupt-<YYYYmmdd-HHMMSS>` (with its -wal/-shm files), an error is logged naming the
backup, and a fresh database is started (`recovered_from` holds the backup path).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from edge.private_files import prepare_private_file

logger = logging.getLogger(__name__)

IN_MEMORY = ":memory:"
_CORRUPT = ("SQLITE_NOTADB", "SQLITE_CORRUPT")


class StoreError(Exception):
    """The skill database could not be opened or used; the message says which file."""


class SkillStore:
    """A thread-safe SQLite connection: `execute()` runs one statement and commits."""

    def __init__(self, path: str | Path, back_up_corrupt: bool = True) -> None:
        self.path = str(path) if str(path) == IN_MEMORY else str(Path(path).expanduser())
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self.recovered_from: str | None = None  # the backup of a corrupt file this store replaced
        try:
            if self.path != IN_MEMORY:
                prepare_private_file(Path(self.path))
            problem = self._open()
            if problem is not None:
                if not back_up_corrupt:
                    raise StoreError(f"the skill database {self.path} is corrupt ({problem}); move it away or "
                                     "delete it to start afresh")
                self.close()
                self.recovered_from = _back_up(self.path, problem)
                problem = self._open()
                if problem is not None:
                    raise sqlite3.DatabaseError(problem)
        except (OSError, sqlite3.Error) as error:
            self.close()
            raise StoreError(
                f"cannot open the skill database {self.path}: {error}; "
                "set skills.database_path to a writable file"
            ) from error

    def _open(self) -> str | None:
        """Connect and check the file; returns what is wrong with it, or None when healthy."""
        self._connection = sqlite3.connect(self.path, check_same_thread=False)
        self._connection.row_factory = sqlite3.Row
        try:
            mode = self._connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            verdict = [row[0] for row in self._connection.execute("PRAGMA quick_check").fetchall()]
        except sqlite3.DatabaseError as error:
            if getattr(error, "sqlite_errorname", "").startswith(_CORRUPT):  # not a busy or read-only file
                return str(error)  # "file is not a database", "database disk image is malformed"
            raise
        if verdict != ["ok"]:
            return "; ".join(verdict[:3])
        logger.debug("opened skill database %s (journal mode %s)", self.path, mode)
        return None

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


def _back_up(path: str, problem: str) -> str:
    """Rename a corrupt database (and its WAL files) out of the way; returns the new name."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    backup = f"{path}.corrupt-{stamp}"
    suffix = 1
    while Path(backup).exists():
        suffix += 1
        backup = f"{path}.corrupt-{stamp}-{suffix}"
    for extra in ("", "-wal", "-shm"):
        if Path(path + extra).exists():
            Path(path + extra).rename(backup + extra)
    logger.error("the skill database %s is corrupt (%s); kept it as %s and started a fresh one", path, problem, backup)
    return backup
