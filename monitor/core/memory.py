"""How the process's C allocator holds memory (glibc only; nothing elsewhere).

glibc gives every thread that allocates its own heap ("arena"), up to eight per core, and
memory freed in one arena serves only that arena. The monitor's threads (``asyncio.to_thread``
work: compression, database writes) each fragment their own: ``bench.round`` peaked at
125-128 MiB with the default, 121-122 MiB with two arenas, at the same speed. Two is what
``MALLOC_ARENA_MAX`` is commonly set to for threaded Python services; the environment
variable, when set, is left to win.
"""

from __future__ import annotations

import ctypes
import os

ARENAS = 2
_M_ARENA_MAX = -8  # mallopt's parameter number in glibc's malloc.h


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
