"""The inside of a parse worker: a loop that parses one response at a time under budgets.

``main(fd, kinds)`` runs in a worker process that ``check.process`` starts (``fd``: its end
of a socket pair): it imports the parsers of ``kinds`` (the source kinds its pool was told
to expect), then ``serve``s. For each ``Task`` it

- sets ``RLIMIT_CPU`` to the CPU time used so far plus the task's budget: a parse that
  runs past it is killed by the kernel with SIGXCPU, wherever it is (lxml's C code
  included, where no Python signal handler or timeout could run);
- sets ``RLIMIT_AS`` to the worker's size at start plus the task's memory budget: past it
  allocations fail, and the ``MemoryError`` becomes "too complex";
- rebuilds the source (cached per spec) and the response, calls ``page.parse_page`` or
  ``page.explain``, and sends back ``(Parsed, retiring)``.

A task of a kind not imported at start imports its parser when its source is rebuilt,
before the budgets are set (an import is no part of a page's parse), and what the import
grew the process by is added to its size at start (it is no part of the memory budget
either). Importing only the kinds in use keeps a worker lean: every parser at start cost
0.4 CPU s and 50 MiB; Bing's alone 0.15 s and 36 MiB (``bench.peer_urlwatch``).

A worker that grew more than ``RETIRE_GROWTH`` past its size at start says it is retiring
and exits, so one big page does not leave a bloated process behind.

Garbage: a parsed tree (BeautifulSoup's nodes point at their parents) is freed only by the
cyclic collector, whose full passes are rare, so without help dead trees pile up (a worker
grew from 50 to 70 MiB over 2,000 parses of 144 KB pages). The objects of the imports are
frozen out of the collector's sight at start (``gc.freeze``), which makes a full pass cheap,
and one runs after every ``COLLECT_EVERY`` tasks and after every large body: 55 MiB after
the same 2,000 parses, at no measurable CPU cost per parse.
"""

from __future__ import annotations

import gc
import math
import pickle
import resource
import socket
import sys
import time
from dataclasses import replace

import httpx

from monitor.check.page import (
    READY,
    Parsed,
    Task,
    explain,
    parse_page,
    recv_frame,
    send_frame,
    too_complex,
)
from monitor.sources import Source, load

# A worker that grew this much past its size at start is replaced after its task.
RETIRE_GROWTH = 256 * 1024 * 1024
_SOURCES_KEPT = 64
# A full collection after this many tasks, and after any body over LARGE_BODY bytes.
COLLECT_EVERY = 16
LARGE_BODY = 1024 * 1024


def rebuilt(spec: bytes, sources: dict[bytes, Source]) -> Source:
    """The source pickled as ``spec``, from ``sources`` (a cache) or rebuilt into it
    (unpickling its class imports the parser's module when it is not loaded yet)."""
    source = sources.get(spec)
    if source is None:
        if len(sources) >= _SOURCES_KEPT:
            sources.clear()
        cls, name, options = pickle.loads(spec)  # noqa: S301 - from our own process
        source = sources[spec] = cls(name, options)
    return source


def run(task: Task, sources: dict[bytes, Source]) -> Parsed:
    """Do ``task`` in this process (no budgets); ``sources`` caches the rebuilt sources."""
    source = rebuilt(task.spec, sources)
    request = httpx.Request(task.method, task.url) if task.method and task.url else None
    response = httpx.Response(
        task.status_code, headers=task.headers, content=task.content, request=request
    )
    response.encoding = task.encoding
    if task.page < 0:
        return explain(source, response)
    return parse_page(source, response, task.page)


def serve(sock: socket.socket) -> None:
    """Answer tasks from ``sock`` until it closes or sends something else than a task."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a SIGXCPU kill leaves no core file
    start_size = _address_space()
    sources: dict[bytes, Source] = {}
    done = 0
    while True:
        try:
            task, content = recv_frame(sock)
        except (EOFError, OSError):  # the main process is gone
            return
        if not isinstance(task, Task):
            return
        task = replace(task, content=content)
        if task.spec not in sources:  # a new source: its parser may be imported now
            before, loaded = _address_space(), len(sys.modules)
            rebuilt(task.spec, sources)
            if len(sys.modules) > loaded:
                _freeze()
            start_size += max(0, _address_space() - before)
        _limit(task, start_size)
        try:
            outcome = run(task, sources)
        except MemoryError:  # rebuilding the response, or outside parse_page's guard
            outcome = too_complex("over its memory budget")
        finally:
            _unlimit()
        retiring = _address_space() > start_size + RETIRE_GROWTH
        send_frame(sock, (outcome.portable(), retiring))
        if retiring:
            return
        done += 1
        if done % COLLECT_EVERY == 0 or len(content) > LARGE_BODY:
            del task, content, outcome
            gc.collect()


def _limit(task: Task, start_size: int) -> None:
    used = time.process_time()
    cpu = math.ceil(used + task.cpu_seconds)
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, resource.RLIM_INFINITY))
    memory = start_size + task.memory_bytes
    resource.setrlimit(resource.RLIMIT_AS, (memory, resource.RLIM_INFINITY))


def _unlimit() -> None:
    infinity = (resource.RLIM_INFINITY, resource.RLIM_INFINITY)
    resource.setrlimit(resource.RLIMIT_CPU, infinity)
    resource.setrlimit(resource.RLIMIT_AS, infinity)


def _address_space() -> int:
    """This process's virtual size in bytes (what ``RLIMIT_AS`` limits)."""
    with open("/proc/self/statm", "rb") as statm:  # noqa: PTH123 - one read, no Path needed
        pages = int(statm.read().split()[0])
    return pages * resource.getpagesize()


def _freeze() -> None:
    """Collect, then keep every object left (the imports') out of later collections' sight:
    they stay, and full collections need not look at them again."""
    gc.collect()
    gc.freeze()


def main(fd: int, kinds: list[str]) -> None:
    """Load the parsers of ``kinds`` (before the first task, not during it), then serve
    socket ``fd``."""
    for kind in kinds:
        load(kind)
    _freeze()
    sock = socket.socket(fileno=fd)
    # Ready: the pool times a task from here, so a start's imports never look like a
    # page that holds its worker (and a page that does is seen, first task or not).
    sock.sendall(READY)
    serve(sock)
