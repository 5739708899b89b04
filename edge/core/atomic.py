"""Files replaced whole or not at all: a reader (a speaker polling an update source, a restart
after a power cut) sees the old file or the new one, never half of one.

    with replaced_atomically(folder / "latest.json", "w") as out:
        out.write(text)
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def replaced_atomically(path: Path, mode: str = "wb", permissions: int = 0o644) -> Iterator[IO[Any]]:
    """A temporary file beside `path`; once the block ends it is flushed to disk, given `permissions`
    and renamed over `path`. If the block raises, the temporary file is removed and `path` is untouched."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, permissions)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
