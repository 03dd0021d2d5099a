"""One parse worker process, seen from the main process (``check.pool`` drives it).

``WorkerProcess(kinds)`` starts a fresh interpreter that runs
``monitor.check.worker.main(FD, kinds)`` with its end of a socket pair (``_BOOT``); ``call``
sends one ``Task`` and awaits the answer on the event loop (no thread); ``stop`` ends it.
A fresh interpreter rather than ``multiprocessing``'s fork or spawn: forking a process with
threads is unsafe, and spawn re-runs the main module (the CLI's, or pytest's).

What crosses the socket (``page.FRAME``): a 16-byte header (two lengths), the pickled task
without its body, then the body's raw bytes as they are (never copied into the pickle).
"""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import select
import signal
import socket
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from monitor.check.page import FRAME, READY, Parsed, Task, too_complex
from monitor.core.observation import Status

logger = logging.getLogger(__name__)

# A worker's start. httpx's command-line client is refused before httpx is imported: a
# worker never uses it, and it would load rich, click and pygments (5 MiB per worker).
_BOOT = (
    "import sys; sys.modules['httpx._main'] = None; "
    "from monitor.check.worker import main; main(int(sys.argv[1]), sys.argv[2:])"
)


@dataclass(frozen=True, slots=True)
class Usage:
    """What one worker process used, read from Linux's /proc (zeros elsewhere): CPU
    seconds, peak resident bytes (``VmHWM``) and the process id."""

    pid: int
    cpu: float = 0.0
    peak: int = 0


class WorkerProcess:
    """One worker process and our end of its socket pair; ``kinds``: the source kinds
    whose parsers it imports before it says it is ready."""

    def __init__(self, kinds: Iterable[str] = ()) -> None:
        ours, theirs = socket.socketpair()
        try:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-c", _BOOT, str(theirs.fileno()), *sorted(kinds)],
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
        self.last = Usage(self.process.pid)  # refreshed by ``usage`` while it lives
        # The loop's time when the task now being parsed was sent whole to a worker that
        # said it is ready (its imports done), None when idle or still starting.
        self.since: float | None = None
        self.ready = False

    def alive(self) -> bool:
        return self.process.poll() is None

    def usage(self) -> Usage:
        """CPU and peak memory of the process so far (its last reading once it is gone)."""
        pid = self.process.pid
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return self.last
        ticks = os.sysconf("SC_CLK_TCK")
        cpu = (int(stat[11]) + int(stat[12])) / ticks  # utime, stime (fields 14, 15)
        high = next((ln.split()[1] for ln in status.splitlines() if ln.startswith("VmHWM:")), "")
        if high:  # a zombie has no memory left to report: keep the last reading
            self.last = Usage(pid, cpu, int(high) * 1024)
        return self.last

    async def call(self, task: Task, *, wall: float) -> tuple[Parsed, str]:
        """The worker's answer to ``task`` and what became of the worker: ``ready`` for
        another task, ``retired`` (it grew too big and left) or ``lost`` (killed, died)."""
        loop = asyncio.get_running_loop()
        data = pickle.dumps(replace(task, content=b""), protocol=pickle.HIGHEST_PROTOCOL)
        try:
            async with asyncio.timeout(wall):
                if not self.ready:
                    if await self._exactly(len(READY)) != READY:
                        raise EOFError("the parse worker did not say it is ready")
                    self.ready = True
                await loop.sock_sendall(self.sock, FRAME.pack(len(data), len(task.content)) + data)
                await loop.sock_sendall(self.sock, task.content)
                self.since = loop.time()
                size, _ = FRAME.unpack(await self._exactly(FRAME.size))
                reply = pickle.loads(await self._exactly(size))  # noqa: S301 - our worker's
        except TimeoutError:
            await asyncio.to_thread(self.stop, kill=True)
            return too_complex(f"no answer within {wall:g}s"), "lost"
        except (EOFError, OSError):
            code = await asyncio.to_thread(self.stop, kill=True)
            return self._died(code, task), "lost"
        finally:
            self.since = None
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
        """End the process (politely unless ``kill``: closing our end ends its loop),
        reading its usage first, while /proc still has it."""
        self.usage()
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


def stuck(busy: list[WorkerProcess], now: float, after: float) -> bool:
    """Whether one of the ``busy`` workers has been on its task ``after`` seconds or more
    since it was sent, and no answer waits to be read. A response that waits only because
    the event loop was slow (to send, or to read an answer) is no reason to start another
    worker."""
    if not any(w.since is not None and now - w.since >= after for w in busy):
        return False
    poll = select.poll()  # not select.select: it refuses descriptors past 1023
    for worker in busy:
        if worker.sock.fileno() >= 0:
            poll.register(worker.sock, select.POLLIN)
    return not poll.poll(0)


@dataclass(slots=True, eq=False)
class Waiter:
    """A response waiting for a worker: since when (the loop's time), its source's key
    (the task's ``spec``), and the future its worker is handed over in."""

    since: float
    key: bytes
    future: asyncio.Future[WorkerProcess | None]

    def gone(self) -> bool:
        return self.future.done() or self.future.get_loop().is_closed()
