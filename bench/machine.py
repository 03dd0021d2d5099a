"""The machine seen from a benchmark: its CPU, a group of processes' CPU, and waiting on
processes for an observable event."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    probe: Callable[[], T | None], bound: float, procs: list[subprocess.Popen[bytes]]
) -> T:
    """``probe()``'s first true value, polled every 0.5 s for ``bound`` seconds; a node
    that exits meanwhile is an error."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        dead = [p.pid for p in procs if p.poll() is not None]
        if dead:
            raise RuntimeError(f"a node exited (pid {dead[0]}): see its log")
        time.sleep(0.5)
    raise RuntimeError(f"the rounds did not close within {bound:.0f} s")


def cpu_jiffies() -> tuple[int, int]:
    """(busy, all) jiffies of the whole machine so far (``/proc/stat``)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def tree_cpu(pids: list[int]) -> float:
    """CPU seconds of the processes ``pids`` and their children (a node's parse workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parts = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(stat.parent.name) in pids or int(parts[1]) in pids:
            total += int(parts[11]) + int(parts[12])  # utime + stime
    return total / tick
