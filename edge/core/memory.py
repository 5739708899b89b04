"""Handing freed heap memory back to the system, for stages whose peak is far above their steady use.

    release_freed_memory()   # after a long reply was synthesized

glibc keeps freed memory in the process heap for reuse; after one long reply the voice's buffers
(tens of MiB) stay in RSS until the process ends. `malloc_trim(0)` returns the free pages. On a C
library without it (musl, macOS) this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.cache
def _malloc_trim():
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


def release_freed_memory() -> bool:
    """Return the heap's free pages to the system; False where the C library cannot."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
