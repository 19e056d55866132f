"""Handing freed memory back to the system between batches.

A batch's records (bodies, pages, XML) are allocated by glibc's malloc, from one
arena per thread that allocates. Once the batch is written they are freed, but
glibc keeps the freed pages inside its arenas, and with the writer's I/O threads
and the digest threads each holding an arena, the process's RSS followed the
high water of every arena rather than what is live (101-105 MB at 100k Hugo
nodes, against 96 MB with a trim after each batch). ``malloc_trim`` returns those
pages; elsewhere than glibc it is not there and nothing is done.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable
from functools import cache


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


def release_free_memory() -> None:
    """Return the heap's free pages to the system (glibc); a no-op elsewhere."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
