"""Parsing off the event loop: worker processes, a CPU-time and memory budget per response.

Why processes: a parser is CPU-bound C code (lxml) plus Python under the GIL, so a thread
cannot take a hostile page off the event loop, and nothing can interrupt lxml midway except
the kernel. A 7.75 MB page of nested ``<div>`` elements, under the 8 MB body cap, took
160-233 s of CPU and 1.09 GB parsed inline, stalling every other host and the scheduler.

Why every page, small ones included: a small page is no proof of a cheap parse (a 100 KB
page can nest 10,000 levels deep), and the hand-off is cheap next to the parse it guards
(one pickle and two socket writes; ``bench.round`` prints the per-check figure). One path
also means the budgets hold for every response, with no size threshold to tune or get
wrong.

How:

- ``ParsePool(workers)`` runs one worker process, and up to ``workers`` (2 by default)
  while a response waits: a response that waited ``spare_after`` (0.25 s) for a busy
  worker starts a spare one, which stops again once every worker is idle. One worker
  parses a normal round with room to spare (about 2 ms of CPU per 144 KB page); the
  spare is there for a page that holds its worker for seconds, so it never holds back
  the other hosts' pages for long. A worker costs about 45 MB of memory; a start costs an
  interpreter and the parsers' imports, about half a second of CPU;
- one source holds at most ``workers - 1`` workers at a time (at least one): a hostile
  engine sending page after page that each take seconds to parse keeps one worker busy,
  never all of them, so the other sources' pages go to the spare (in ``bench.fault_engines``'
  wide-page case, a source with ``concurrency: 2`` held both workers and the other
  engine's checks waited up to 7.5 s);
- each response goes to an idle worker with its source's budgets (``parse_cpu``,
  ``parse_memory``); the worker enforces them with ``RLIMIT_CPU`` and ``RLIMIT_AS``
  (``check.worker``); a page past either is ``parse_error`` "too complex (...)", never
  zero images;
- a worker that dies (the kernel's SIGXCPU, the OOM killer, a crash in C code) or gives
  no answer within ``10 x parse_cpu + 30 s`` of wall time (a backstop, generous because
  on a loaded machine CPU time passes slower than the clock) is killed and replaced; only
  the page it was reading fails;
- the event loop awaits the worker's socket (no thread, no GIL hand-off in the way);
  checks queue for a free worker in the order they arrive (skipping those of a source at
  its share), and wait before fetching while
  ``4 x workers`` fetched responses already wait (``ready``, asked once the host's slot is
  held: a check queued for its host passed no gate): a round fetching faster than the
  workers parse must not hold every body of the round in memory.

A worker imports only the parsers of the source kinds its pool has met (``prepare``, called
as a round starts, and every task's source; ``check.worker`` says why). ``prepare`` also
starts the first worker, so its start overlaps the round's first fetches.

``shared_pool()`` is the pool of the process: the daemon, ``check`` and the demo parse
through it, and it outlives config reloads. ``page.InlineParser`` parses in the caller, without
budgets, for unit tests whose fake sources exist only in the test process.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import pickle
from collections import Counter, deque
from collections.abc import Iterable
from weakref import WeakKeyDictionary

import httpx

from monitor.check.page import Parsed, Task
from monitor.check.process import Usage, Waiter, WorkerProcess, stuck
from monitor.core.observation import Status
from monitor.sources import REGISTRY, Source

logger = logging.getLogger(__name__)

DEFAULT_WORKERS = 2
# How many responses may wait for a worker, per worker, before checks wait to fetch.
QUEUE_PER_WORKER = 4
# How long a response waits for a busy worker before a spare one starts (seconds): far
# above a normal page's parse (milliseconds), far below a hostile page's budget (seconds).
SPARE_AFTER = 0.25


class ParsePool:
    """A pool of parse workers; see the module docstring.

    Used from one event loop at a time (the daemon's, or each command's ``asyncio.run`` in
    turn); it binds to none, so it outlives them.
    """

    def __init__(
        self,
        workers: int = DEFAULT_WORKERS,
        *,
        queue: int | None = None,
        spare_after: float = SPARE_AFTER,
    ) -> None:
        if workers < 1:
            raise ValueError("a parse pool needs at least one worker")
        self.workers = workers
        self.queue = QUEUE_PER_WORKER * workers if queue is None else queue
        self.spare_after = spare_after
        self._gate: deque[asyncio.Future[None]] = deque()
        self.replaced = 0  # workers killed or lost, and replaced (retired ones not counted)
        self._idle: list[WorkerProcess | None] = [None]  # None: started on first use
        self._spare = workers - 1  # slots opened only for a response that waited
        self._busy = 0
        # Responses waiting for a worker, with the loop's time they started waiting.
        self._waiting: deque[Waiter] = deque()
        self.share = max(1, workers - 1)  # workers one source may hold at once
        self._held: Counter[bytes] = Counter()  # workers held, per source key
        self._timer: tuple[asyncio.AbstractEventLoop, asyncio.TimerHandle] | None = None
        self._specs: WeakKeyDictionary[Source, bytes] = WeakKeyDictionary()
        self._live: set[WorkerProcess] = set()
        self.ended: deque[Usage] = deque(maxlen=32)  # the last stopped workers' usage
        self._kinds: set[str] = set()  # the source kinds whose parsers a new worker imports

    def prepare(self, kinds: Iterable[str]) -> None:
        """Expect responses of ``kinds``' sources; start the first worker now if none runs
        (a worker that cannot start is left to the first parse to report)."""
        self._kinds.update(k for k in kinds if k in REGISTRY)  # a test's own kinds: by pickle
        if self._live or None not in self._idle:
            return
        try:
            worker = WorkerProcess(self._kinds)
        except OSError:
            return
        self._live.add(worker)
        self._idle[self._idle.index(None)] = worker

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

    @property
    def running(self) -> int:
        """How many worker processes are running now."""
        return len(self._live)

    def usage(self) -> list[Usage]:
        """CPU and peak memory of every worker this pool started: the live ones, then the
        last 32 stopped (what ``bench.round`` adds to the main process's figures)."""
        return [w.usage() for w in list(self._live)] + list(self.ended)

    def close(self) -> None:
        """Stop the idle workers (a busy one is stopped when its caller gives it back)."""
        idle, self._idle = self._idle, [None] * len(self._idle)
        for worker in idle:
            if worker is not None:
                self._stop(worker)

    def _task(self, source: Source, response: httpx.Response, page: int) -> Task:
        if source.kind not in self._kinds:
            self.prepare([source.kind])
        spec = self._specs.get(source)
        if spec is None:
            spec = self._specs[source] = pickle.dumps((type(source), source.name, source.options))
        return Task.of(spec, source, response, page)

    async def _run(self, task: Task) -> Parsed:
        key = task.spec
        worker = await self._acquire(key)  # holds one of the pool's slots until given back
        self._busy += 1
        try:
            if worker is not None and not worker.alive():
                await asyncio.to_thread(self._stop, worker)
                worker, self.replaced = None, self.replaced + 1
            if worker is None:
                worker = WorkerProcess(self._kinds)
                self._live.add(worker)
            outcome, state = await worker.call(task, wall=10 * task.cpu_seconds + 30)
        except OSError as exc:  # no process could be started (fork or pipe refused)
            logger.error("cannot start a parse worker: %s", exc)
            outcome, state = Parsed(status=Status.PARSE_ERROR, reason=f"no parse worker: {exc}"), ""
        except BaseException:  # cancelled mid-task: the worker's state is unknown
            if worker is not None:
                self._stop(worker, kill=True)
            self._busy -= 1
            self._give_back(key)
            self._release(None)
            raise
        self._busy -= 1
        self._give_back(key)
        if state != "ready" and worker is not None:
            self._forget(worker)
            worker = None
        self.replaced += state == "lost"
        if self._shrink(worker):
            if worker is not None:
                await asyncio.to_thread(self._stop, worker)
            self._open_gate()
            return outcome
        self._release(worker)
        return outcome

    def _shrink(self, worker: WorkerProcess | None) -> bool:
        """Whether the slot back from a task closes (with its ``worker``, if any): a spare
        slot is open, no response waits and no worker is busy. A slot back with a worker
        closes an idle slot without one instead, and keeps its worker."""
        if self._spare == self.workers - 1 or self._busy or self._live_waiters():
            return False
        self._spare += 1
        if worker is not None and None in self._idle:
            self._idle.remove(None)
            return False
        return True

    def _live_waiters(self) -> bool:
        return any(not w.gone() for w in self._waiting)

    def _give_back(self, key: bytes) -> None:
        self._held[key] -= 1
        if self._held[key] <= 0:
            del self._held[key]

    async def _acquire(self, key: bytes) -> WorkerProcess | None:
        """A worker (or ``None``: start one in the slot) for a response of source ``key``,
        counted against the source's share until ``_give_back``."""
        if self._idle and self._held[key] < self.share:
            self._held[key] += 1
            return self._idle.pop()
        loop = asyncio.get_running_loop()
        waiter = Waiter(loop.time(), key, loop.create_future())
        self._waiting.append(waiter)
        if self._spare > 0 and (self._timer is None or self._timer[0] is not loop):
            self._timer = (loop, loop.call_later(self.spare_after, self._spare_check))
        try:
            return await waiter.future
        except asyncio.CancelledError:
            if waiter.future.done() and not waiter.future.cancelled():
                self._give_back(key)  # handed over as we were cancelled
                self._release(waiter.future.result())
            raise

    def _next(self) -> Waiter | None:
        """The first waiting response whose source is below its share (dropping the
        abandoned ones on the way), or None."""
        for waiter in list(self._waiting):
            if waiter.gone():
                self._waiting.remove(waiter)
            elif self._held[waiter.key] < self.share:
                return waiter
        return None

    def _hand(self, waiter: Waiter, worker: WorkerProcess | None) -> None:
        self._waiting.remove(waiter)
        self._held[waiter.key] += 1
        waiter.future.set_result(worker)

    def _spare_check(self) -> None:
        """Open a spare slot for the first waiting response whose source is below its share
        if it waited ``spare_after`` behind a worker on one task as long (``process.stuck``:
        timed from the worker's ready, so a start's imports never count); look again while
        responses wait. One timer for the pool."""
        loop, _ = self._timer or (None, None)
        self._timer = None
        waiter = self._next()
        if loop is None or self._spare <= 0 or waiter is None:
            return
        late = loop.time() - waiter.since - self.spare_after
        busy = [w for w in list(self._live) if w.since is not None]
        if late >= 0 and stuck(busy, loop.time(), self.spare_after):
            self._spare -= 1
            self._hand(waiter, None)  # None: start a worker in the slot
            self._open_gate()
            late = -self.spare_after
        if self._spare > 0 and self._waiting:
            delay = self.spare_after if late >= 0 else -late
            self._timer = (loop, loop.call_later(delay, self._spare_check))

    def _release(self, worker: WorkerProcess | None) -> None:
        self._open_gate()
        waiter = self._next()
        if waiter is not None:
            self._hand(waiter, worker)
            return
        self._idle.append(worker)

    def _open_gate(self) -> None:
        room = self.queue - len(self._waiting) + 1  # one waiter is about to be served
        while self._gate and room > 0:
            gate = self._gate.popleft()
            if not gate.done() and not gate.get_loop().is_closed():
                gate.set_result(None)
                room -= 1

    def _stop(self, worker: WorkerProcess, *, kill: bool = False) -> None:
        worker.stop(kill=kill)
        self._forget(worker)

    def _forget(self, worker: WorkerProcess) -> None:
        if worker in self._live:
            self._live.discard(worker)
            self.ended.append(worker.usage())


_shared: ParsePool | None = None


def shared_pool() -> ParsePool:
    """The process's pool, created on first use and stopped when the process exits."""
    global _shared  # one pool of processes per process, by design
    if _shared is None:
        _shared = ParsePool()
        atexit.register(_shared.close)
    return _shared
