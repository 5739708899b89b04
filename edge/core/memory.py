"""Keeping the runtime's heap from holding memory it no longer uses.

    limit_malloc_arenas()    # once, as `edge` starts, before any thread allocates
    release_freed_memory()   # after a long reply was synthesized

glibc keeps freed memory in the process heap for reuse: after one long reply the voice's buffers
(tens of MiB) stay in RSS until the process ends, and `malloc_trim(0)` returns the free pages. It
also gives threads their own heaps (up to 8 per core), each keeping its own freed memory: the
bridge's satellites synthesize and transcribe on worker threads. In 10-minute soaks (bench/soak)
the worst start's RSS growth was 19 % with the default heaps and 5.2 % and 12.7 % in two runs with
two (run to run the figure moves by several points); the big allocations are a model's buffers,
so two heaps cost no measurable contention. An operator's MALLOC_ARENA_MAX wins. On a C library
without these calls (musl, macOS) both do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os

MALLOC_ARENAS = 2  # glibc heaps for all threads (M_ARENA_MAX)
_M_ARENA_MAX = -8  # mallopt's parameter number, from glibc's malloc.h


@functools.cache
def _libc_function(name: str):
    library = ctypes.util.find_library("c")
    try:
        return getattr(ctypes.CDLL(library), name) if library else None
    except (OSError, AttributeError):
        return None


def limit_malloc_arenas(count: int = MALLOC_ARENAS) -> bool:
    """At most `count` glibc heaps for the process's threads, unless MALLOC_ARENA_MAX is set; False
    where it was not changed (set by the operator, or not glibc)."""
    mallopt = _libc_function("mallopt")
    if os.environ.get("MALLOC_ARENA_MAX") or mallopt is None:
        return False
    return bool(mallopt(_M_ARENA_MAX, count))


def release_freed_memory() -> bool:
    """Return the heap's free pages to the system; False where the C library cannot."""
    trim = _libc_function("malloc_trim")
    if trim is None:
        return False
    trim(0)
    return True
