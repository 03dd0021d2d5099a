"""Parsing off the event loop: persistent worker processes, a CPU-time and memory budget
per response.

Why processes: a parser is CPU-bound C code (lxml) plus Python under the GIL, so a thread
cannot take a hostile page off the event loop, and nothing can interrupt lxml midway except
the kernel. A 7.75 MB page of nested ``<div>`` elements, under the 8 MB body cap, took
160-233 s of CPU and 1.09 GB parsed inline, stalling every other host and the scheduler.

Why every page, small ones included: a small page is no proof of a cheap parse (a 100 KB
page can nest 10,000 levels deep), and the hand-off is cheap next to the parse it guards
(one pickle and two pipe writes; ``bench.round`` prints the per-check figure). One path
also means the budgets hold for every response, with no size threshold to tune or get
wrong.

How:

- ``ParsePool(workers)`` keeps ``workers`` processes (2 by default: the parse is CPU
  work, more than the cores only queues it in the kernel instead of here), each started
  on first use and kept for the life of the process; a start (or a replacement) costs
  an interpreter and the parsers' imports, about half a second of CPU, once;
- each response goes to an idle worker with its source's budgets (``parse_cpu``,
  ``parse_memory``); the worker enforces them with ``RLIMIT_CPU`` and ``RLIMIT_AS``
  (``check.worker``); a page past either is ``parse_error`` "too complex (...)", never
  zero images;
- a worker that dies (the kernel's SIGXCPU, the OOM killer, a crash in C code) or gives
  no answer within ``10 x parse_cpu + 30 s`` of wall time (a backstop, generous because
  on a loaded machine CPU time passes slower than the clock) is killed and replaced; only
  the page it was reading fails;
- the event loop awaits the worker's socket (no thread, no GIL hand-off in the way);
  checks queue for a free worker in the order they arrive, and wait before fetching while
  ``4 x workers`` fetched responses already wait (``ready``, asked once the host's slot is
  held: a check queued for its host passed no gate): a round fetching faster than the
  workers parse must not hold every body of the round in memory.

``shared_pool()`` is the pool of the process: the daemon, ``check`` and the demo parse
through it, and it outlives config reloads. ``page.InlineParser`` parses in the caller, without
budgets, for unit tests whose fake sources exist only in the test process.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
from collections import deque
from contextlib import suppress
from dataclasses import replace
from pathlib import Path
from weakref import WeakKeyDictionary

import httpx

from monitor.check.page import FRAME, Parsed, Task, too_complex
from monitor.core.observation import Status
from monitor.sources.base import Source

logger = logging.getLogger(__name__)

DEFAULT_WORKERS = 2
# How many responses may wait for a worker, per worker, before checks wait to fetch.
QUEUE_PER_WORKER = 4


class ParsePool:
    """A pool of parse workers; see the module docstring.

    Used from one event loop at a time (the daemon's, or each command's ``asyncio.run`` in
    turn); it binds to none, so it outlives them.
    """

    def __init__(self, workers: int = DEFAULT_WORKERS, *, queue: int | None = None) -> None:
        if workers < 1:
            raise ValueError("a parse pool needs at least one worker")
        self.workers = workers
        self.queue = QUEUE_PER_WORKER * workers if queue is None else queue
        self._gate: deque[asyncio.Future[None]] = deque()
        self.replaced = 0  # workers killed or lost, and replaced (retired ones not counted)
        self._idle: list[_Worker | None] = [None] * workers  # None: started on first use
        self._waiting: deque[asyncio.Future[_Worker | None]] = deque()
        self._specs: WeakKeyDictionary[Source, bytes] = WeakKeyDictionary()

    async def ready(self) -> None:
        """Wait while ``queue`` responses or more wait for a worker.

        Checks call this right before they fetch, their host's slot held (``Fetcher.fetch``'s
        ``gate``): fetching faster than the workers parse would only pile up bodies in
        memory (8 MB each at worst). A check waiting here holds no body, and only its own
        host's slot, so a host slow to answer cannot hold the others back through it.
        """
        while len(self._waiting) >= self.queue:
            gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._gate.append(gate)
            await gate

    async def parse(self, source: Source, response: httpx.Response, page: int) -> Parsed:
        """Parse ``response`` in a worker under ``source``'s budgets; never raises."""
        return await self._run(self._task(source, response, page))

    async def explain(self, source: Source, response: httpx.Response) -> Parsed:
        """Ask ``source`` about a 4xx body in a worker, under the same budgets."""
        return await self._run(self._task(source, response, -1))

    def usage(self) -> tuple[float, int]:
        """CPU seconds and peak resident bytes of the live workers, summed (from Linux's
        /proc; zeros elsewhere). What ``bench.round`` adds to the main process's figures."""
        cpu, peak = 0.0, 0
        for worker in self._idle:
            if worker is not None:
                used, high = worker.usage()
                cpu, peak = cpu + used, peak + high
        return cpu, peak

    def close(self) -> None:
        """Stop the idle workers (a busy one is stopped when its caller gives it back)."""
        idle, self._idle = self._idle, [None] * len(self._idle)
        for worker in idle:
            if worker is not None:
                worker.stop()

    def _task(self, source: Source, response: httpx.Response, page: int) -> Task:
        spec = self._specs.get(source)
        if spec is None:
            spec = self._specs[source] = pickle.dumps((type(source), source.name, source.options))
        method: str | None = None
        url: str | None = None
        with suppress(RuntimeError):  # a response built by hand has no request
            method, url = response.request.method, str(response.request.url)
        options = source.options
        return Task(
            spec,
            response.status_code,
            list(response.headers.raw),
            response.content,
            response.encoding or "utf-8",
            method,
            url,
            page,
            options.parse_cpu.total_seconds(),
            options.parse_memory,
        )

    async def _run(self, task: Task) -> Parsed:
        worker = await self._acquire()
        try:
            if worker is not None and not worker.alive():
                await asyncio.to_thread(worker.stop)
                worker, self.replaced = None, self.replaced + 1
            if worker is None:
                worker = _Worker()
            outcome, state = await worker.call(task, wall=10 * task.cpu_seconds + 30)
        except OSError as exc:  # no process could be started (fork or pipe refused)
            logger.error("cannot start a parse worker: %s", exc)
            self._release(None)
            return Parsed(status=Status.PARSE_ERROR, reason=f"no parse worker: {exc}")
        except BaseException:  # cancelled mid-task: the worker's state is unknown
            if worker is not None:
                worker.stop(kill=True)
            self._release(None)
            raise
        if state == "ready":
            self._release(worker)
        else:
            self.replaced += state == "lost"
            self._release(None)
        return outcome

    async def _acquire(self) -> _Worker | None:
        if self._idle:
            return self._idle.pop()
        waiter: asyncio.Future[_Worker | None] = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release(waiter.result())  # handed over as we were cancelled
            raise

    def _release(self, worker: _Worker | None) -> None:
        self._open_gate()
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done() and not waiter.get_loop().is_closed():
                waiter.set_result(worker)
                return
        self._idle.append(worker)

    def _open_gate(self) -> None:
        room = self.queue - len(self._waiting) + 1  # one waiter is about to be served
        while self._gate and room > 0:
            gate = self._gate.popleft()
            if not gate.done() and not gate.get_loop().is_closed():
                gate.set_result(None)
                room -= 1


class _Worker:
    """One worker process (``python -m monitor.check.worker FD``) and our end of its
    socket pair.

    A fresh interpreter rather than ``multiprocessing``'s fork or spawn: forking a process
    with threads is unsafe, and spawn re-runs the main module (the CLI's, or pytest's).
    """

    def __init__(self) -> None:
        ours, theirs = socket.socketpair()
        try:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", "monitor.check.worker", str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
            )
        except OSError:
            ours.close()
            raise
        finally:
            theirs.close()
        ours.setblocking(False)
        self.sock = ours

    def alive(self) -> bool:
        return self.process.poll() is None

    def usage(self) -> tuple[float, int]:
        """(CPU seconds, peak resident bytes) of the process, or zeros without /proc."""
        try:
            stat = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return 0.0, 0
        ticks = os.sysconf("SC_CLK_TCK")
        cpu = (int(stat[11]) + int(stat[12])) / ticks  # utime, stime (fields 14, 15)
        high = next((ln.split()[1] for ln in status.splitlines() if ln.startswith("VmHWM:")), "0")
        return cpu, int(high) * 1024

    async def call(self, task: Task, *, wall: float) -> tuple[Parsed, str]:
        """The worker's answer to ``task`` and what became of the worker: ``ready`` for
        another task, ``retired`` (it grew too big and left) or ``lost`` (killed, died)."""
        loop = asyncio.get_running_loop()
        data = pickle.dumps(replace(task, content=b""), protocol=pickle.HIGHEST_PROTOCOL)
        try:
            async with asyncio.timeout(wall):
                await loop.sock_sendall(self.sock, FRAME.pack(len(data), len(task.content)) + data)
                await loop.sock_sendall(self.sock, task.content)
                size, _ = FRAME.unpack(await self._exactly(FRAME.size))
                reply = pickle.loads(await self._exactly(size))  # noqa: S301 - our worker's
        except TimeoutError:
            await asyncio.to_thread(self.stop, kill=True)
            return too_complex(f"no answer within {wall:g}s"), "lost"
        except (EOFError, OSError):
            code = await asyncio.to_thread(self.stop, kill=True)
            return self._died(code, task), "lost"
        outcome, retiring = reply
        if retiring:
            await asyncio.to_thread(self.stop)
            return outcome, "retired"
        return outcome, "ready"

    async def _exactly(self, size: int) -> bytes:
        loop = asyncio.get_running_loop()
        buffer = bytearray(size)
        view, got = memoryview(buffer), 0
        while got < size:
            n = await loop.sock_recv_into(self.sock, view[got:])
            if n == 0:
                raise EOFError("the parse worker closed its end")
            got += n
        return bytes(buffer)

    def stop(self, *, kill: bool = False) -> int:
        """End the process (politely unless ``kill``: closing our end ends its loop)."""
        if kill:
            self.process.kill()
        self.sock.close()
        try:
            return self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    @staticmethod
    def _died(code: int, task: Task) -> Parsed:
        if code == -signal.SIGXCPU:
            return too_complex(f"over its {task.cpu_seconds:g}s CPU budget")
        if code == -signal.SIGKILL:  # the OOM killer's signal
            return too_complex("the parse was killed, likely out of memory")
        logger.error("a parse worker died (exit code %s)", code)
        return Parsed(status=Status.PARSE_ERROR, reason=f"parse worker died (exit code {code})")


_shared: ParsePool | None = None


def shared_pool() -> ParsePool:
    """The process's pool, created on first use and stopped when the process exits."""
    global _shared  # one pool of processes per process, by design
    if _shared is None:
        _shared = ParsePool()
        atexit.register(_shared.close)
    return _shared
