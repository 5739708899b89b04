"""Data files readable by their owner only: transcripts, escalations and skill data are personal.

    prepare_private_file(path)          # before sqlite3.connect(path)

Creates the folder (0700, when it does not exist yet) and the file (0600) whatever the umask,
and tightens an existing file, its SQLite companions (-wal, -shm, -journal) included, to 0600.
SQLite creates its -wal and -shm files with the database file's permissions.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

logger = logging.getLogger(__name__)

COMPANIONS = ("", "-wal", "-shm", "-journal")


def prepare_private_file(path: Path) -> None:
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
