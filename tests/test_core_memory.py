"""The cap on glibc's malloc arenas (``core.memory``)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from monitor.core.memory import limit_arenas

SCRIPT = """
import sys, threading
from monitor.core.memory import limit_arenas
print(limit_arenas())
together = threading.Barrier(8)
def grow():
    together.wait()  # all at once, so that no thread finds another's arena free
    blocks = [bytes(2000) for _ in range(1000)]  # past pymalloc: from the thread's arena
    together.wait()
    del blocks
threads = [threading.Thread(target=grow) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
heaps = 0
for line in open("/proc/self/maps"):
    start, end = (int(x, 16) for x in line.split()[0].split("-"))
    # a glibc thread arena is a 64 MiB-aligned reservation of 64 MiB (a heap), mostly PROT_NONE
    if start % (64 << 20) == 0 and line.split()[5:] == [] and end - start < (64 << 20):
        heaps += 1
print(heaps)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_eight_allocating_threads_share_at_most_the_capped_arenas() -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[0] == "True"
    assert int(out[1]) <= 1  # the main heap (brk) plus at most one more arena


def test_the_environment_variable_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_arenas() is False
