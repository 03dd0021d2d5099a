"""How the process holds memory: the C allocator's arenas (glibc only; nothing elsewhere),
and the objects of its start kept out of the garbage collector's full passes.

glibc gives every thread that allocates its own heap ("arena"), up to eight per core, and
memory freed in one arena serves only that arena. The monitor's threads (``asyncio.to_thread``
work: compression, database writes) each fragment their own: ``bench.round`` peaked at
125-128 MiB with the default, 121-122 MiB with two arenas, at the same speed. Two is what
``MALLOC_ARENA_MAX`` is commonly set to for threaded Python services; the environment
variable, when set, is left to win.
"""

from __future__ import annotations

import ctypes
import gc
import os
import threading

ARENAS = 2
_M_ARENA_MAX = -8  # mallopt's parameter number in glibc's malloc.h
_settled = threading.Event()


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas at ``arenas`` unless ``MALLOC_ARENA_MAX`` is set; whether
    the cap was applied (False without glibc)."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the process's own symbols, the C library's too
    except (OSError, AttributeError):  # no dynamic loading, or a C library without mallopt
        return False
    return bool(mallopt(_M_ARENA_MAX, arenas))


def settle_start() -> bool:
    """Once per process, when its start is over (imports, config, database, catalog): collect
    the garbage, then move every object still alive out of the collector's sight
    (``gc.freeze``). A full collection then walks only what came later: ``bench.round``
    walked 138,000 objects, about 0.1 s of CPU each time, one to three times a round
    (0.3-0.5 CPU ms a check). Whether this call did it (False: done before)."""
    if _settled.is_set():
        return False
    _settled.set()
    gc.collect()
    gc.freeze()
    return True
