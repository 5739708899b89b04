"""The one SQLite opener: every database of the runtime (skills, privacy ledger, flywheel) opens here.

    opened = open_database(path, isolation_level=None)   # WAL, synchronous=FULL, checked
    opened.connection, opened.recovered_from             # the backup of a corrupt file, or None

A file that is not a healthy SQLite database (`PRAGMA quick_check` fails, or SQLite says "file
is not a database") is never written over: it is renamed to `<name>.corrupt-<YYYYmmdd-HHMMSS>`
(with its -wal/-shm files), an error is logged naming the backup, and a fresh database is
started. So a corrupt ledger or training log never stops the speaker from starting, and no byte
of the old file is lost. Files are readable by their owner only (0600, in a 0700 folder when it
is new; a wider existing file is tightened): they hold what people said.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from edge.core.errors import StorageError

logger = logging.getLogger(__name__)

IN_MEMORY = ":memory:"
_CORRUPT = ("SQLITE_NOTADB", "SQLITE_CORRUPT")


@dataclass
class OpenedDatabase:
    connection: sqlite3.Connection
    recovered_from: str | None  # where a corrupt file was moved, or None


def open_database(path: str | Path, what: str, fix: str, back_up_corrupt: bool = True,
                  isolation_level: str | None = "", row_factory=None, secure_delete: bool = False) -> OpenedDatabase:
    """Open (creating it, 0600) a WAL database at `path`; `what` and `fix` word the errors
    ("the privacy ledger", "set router.ledger_path to a writable file"). `secure_delete`: deleted
    rows are overwritten, not left in free pages (for what people said)."""
    name = str(path) if str(path) == IN_MEMORY else str(Path(path).expanduser())
    recovered = None
    try:
        if name != IN_MEMORY:
            prepare_private_file(Path(name))
        connection, problem = _connect(name, isolation_level, row_factory)
        if problem is not None:
            connection.close()
            if not back_up_corrupt:
                raise StorageError(f"{what} {name} is corrupt ({problem}); move it away or delete it to start afresh")
            recovered = back_up(name, problem, what)
            prepare_private_file(Path(name))
            connection, problem = _connect(name, isolation_level, row_factory)
            if problem is not None:
                raise sqlite3.DatabaseError(problem)
        if secure_delete:
            connection.execute("PRAGMA secure_delete=ON")
    except (OSError, sqlite3.Error) as error:
        raise StorageError(f"cannot open {what} {name}: {error}; {fix}") from error
    return OpenedDatabase(connection, recovered)


COMPANIONS = ("", "-wal", "-shm", "-journal")


def prepare_private_file(path: Path) -> None:
    """Create the folder (0700, when it does not exist yet) and the file (0600) whatever the umask, and
    tighten an existing file and its SQLite companions (-wal, -shm, -journal) to 0600; SQLite creates
    its -wal and -shm files with the database file's permissions."""
    path = Path(path)
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    for suffix in COMPANIONS:
        file = path.with_name(path.name + suffix)
        try:
            mode = stat.S_IMODE(file.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            logger.info("%s was readable by others (%o): now 0600", file, mode)
            file.chmod(0o600)


def _connect(name: str, isolation_level: str | None, row_factory) -> tuple[sqlite3.Connection, str | None]:
    """A connection, and what is wrong with the file (None when it is healthy)."""
    connection = sqlite3.connect(name, check_same_thread=False, isolation_level=isolation_level)
    if row_factory is not None:
        connection.row_factory = row_factory
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        verdict = [row[0] for row in connection.execute("PRAGMA quick_check").fetchall()]
    except sqlite3.DatabaseError as error:
        if getattr(error, "sqlite_errorname", "").startswith(_CORRUPT):  # not a busy or read-only file
            return connection, str(error)  # "file is not a database", "database disk image is malformed"
        connection.close()
        raise
    if verdict != ["ok"]:
        return connection, "; ".join(verdict[:3])
    return connection, None


def back_up(path: str, problem: str, what: str = "the database") -> str:
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
    logger.error("%s %s is corrupt (%s); kept it as %s and started a new one", what, path, problem, backup)
    return backup
