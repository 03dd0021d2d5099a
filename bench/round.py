"""Benchmark: rounds of N series against local engines; prints throughput and costs.

    python -m bench.round --series 1000 --hosts 6 --rounds 3 --page-kb 144

Six Bing-format engines on 127.0.0.1 (one port each = one host for the politeness limits),
N series spread over them, the real pipeline (fetcher, parser, store, detector, outbox) on a
temporary SQLite file. Figures: checks per second per round, CPU milliseconds per check
(median over rounds; the main process and the parse workers together, and the main
process alone), memory, the longest wait of a round's write transaction for SQLite's
write lock, database bytes per snapshot in the first round (new images) and in later
rounds (unchanged results: what an unchanged snapshot costs), and how long a round's
database work took: the sum over its sources' commits (``RoundCommit``: the reads before
the transaction, the transaction, the commit) of their wall time and of their CPU time.

Memory, of the whole monitor (the main process and its parse workers; the engines run in
other processes and are not counted). The main process loads the monitor as the program
does (``monitor.cli`` first: httpx's own command line, 4.5 MiB of rich and pygments that
``absence-monitor`` never loads, stays out):

- peak RSS of the main process and of each parse worker (``VmHWM``, a worker's read
  before it stops), and their sum: an upper bound, counting every shared page (the
  interpreter, the libraries) once per process and adding peaks that may not coincide;
- the peak PSS total: sampled every 0.1 s from ``/proc/PID/smaps_rollup`` by a thread,
  main and workers added at each sample, a page shared by n processes counted 1/n in
  each, so once in the total: what the monitor takes from the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import monitor.cli  # noqa: F401 - first: shadows httpx's own command line, as the program does
from monitor.app import build
from monitor.check import shared_pool
from monitor.config import parse_config
from monitor.rounds.commit import RoundCommit
from monitor.store.db import lock_waits
from monitor.testing import LocalServer, Reply

FIX = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "sources" / "bing_images"


def db_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file())


def snapshot_bytes(db: sqlite3.Connection) -> int:
    """Bytes of the ``snapshots`` table and its indexes (SQLite's ``dbstat``; 0 without it):
    what the snapshots alone take, apart from the detector states that grow with each
    round until their window is full."""
    try:
        rows = db.execute(
            "SELECT sum(pgsize) FROM dbstat WHERE name = 'snapshots' "
            "OR name IN (SELECT name FROM sqlite_master WHERE tbl_name = 'snapshots')"
        ).fetchone()
    except sqlite3.OperationalError:  # a SQLite built without dbstat
        return 0
    return int(rows[0] or 0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--series", type=int, default=1000)
    ap.add_argument("--hosts", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=4, help="requests in flight per host")
    ap.add_argument("--page-kb", type=int, default=0, help="pad each page to this size")
    ap.add_argument("--serve", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve, args.page_kb)
        return

    # The engines run in another process, so the figures are the monitor's own CPU.
    ports = [free_port() for _ in range(args.hosts)]
    servers = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.round", "--serve", str(p), "--page-kb", str(args.page_kb)]
        )
        for p in ports
    ]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    wait_listening(ports)
    tmp = Path(tempfile.mkdtemp(prefix="bench-round-"))
    db = tmp / "bench.db"
    per_host = -(-args.series // args.hosts)
    people = "\n".join(f"  - name: person {i:05d}" for i in range(per_host))
    sources = "\n".join(
        f"  s{h}:\n    kind: bing_images\n    base_url: {url}\n    rate: 1000/1s\n"
        f"    concurrency: {args.concurrency}\n    every: 6h"
        for h, url in enumerate(urls)
    )
    config = parse_config(
        f"database: {{url: 'sqlite:///{db}'}}\npeople:\n{people}\nsources:\n{sources}\n"
        # The fixture's thumbnails are on the internet: a benchmark stays on 127.0.0.1.
        "evidence: {keep_thumbnails: false}\n",
        "bench.yaml",
        {},
    )
    app = build(config, channels=[])
    app.migrate(apart=True)  # as the daemon does: Alembic stays out of this process
    refs = app.series()[: args.series]
    print(f"{len(refs)} series over {args.hosts} hosts, {args.rounds} rounds, db {db}")

    async def one_round() -> None:
        async with app.fetcher() as fetcher:
            await app.rounds(fetcher).run_all(refs)

    writes = WriteTimer()
    write_times: list[float] = []
    rates, cpu_per_check, main_per_check, growth = [], [], [], []
    snap_growth: list[float] = []
    snaps_before = 0
    sampler = PssSampler()
    sampler.start()
    for r in range(args.rounds):
        before_db = db_bytes(db)
        cpu0, t0, parse0 = time.process_time(), time.perf_counter(), workers_cpu()
        sampled0 = sampler.cpu()
        writes.reset()
        asyncio.run(one_round())
        wall = time.perf_counter() - t0
        main = time.process_time() - cpu0 - (sampler.cpu() - sampled0)
        # Parsing runs in the parse pool's workers: their CPU is the check's CPU too.
        cpu = main + workers_cpu() - parse0
        main_per_check.append(main / len(refs) * 1000)
        with sqlite3.connect(db) as raw:  # fold the WAL into the file before measuring
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            snaps_now = snapshot_bytes(raw)
        snap_growth.append((snaps_now - snaps_before) / len(refs))
        snaps_before = snaps_now
        grew = db_bytes(db) - before_db
        rates.append(len(refs) / wall)
        cpu_per_check.append(cpu / len(refs) * 1000)
        growth.append(grew / len(refs))
        print(
            f"round {r + 1}: {len(refs) / wall:7.0f} checks/s  "
            f"{cpu / len(refs) * 1000:6.2f} CPU ms/check "
            f"({main / len(refs) * 1000:.2f} in the main process)  "
            f"{grew / len(refs):8.1f} db bytes/snapshot  "
            f"write {writes.wall:.2f} s ({writes.cpu:.2f} s CPU)"
        )
        write_times.append(writes.wall)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"median: {statistics.median(rates):.0f} checks/s, "
        f"{statistics.median(cpu_per_check):.2f} CPU ms/check, "
        f"{statistics.median(main_per_check):.2f} of them in the main process "
        "(its server threads included; the rest in parse workers)"
    )
    sampler.stop()
    workers = shared_pool().usage()
    each = ", ".join(f"{w.peak / 2**20:.0f}" for w in workers) or "none"
    rss_sum = peak + sum(w.peak for w in workers) / 2**20
    print(
        f"peak RSS (VmHWM): main {peak:.0f} MiB, parse workers {each} MiB "
        f"({len(workers)} started); sum {rss_sum:.0f} MiB"
    )
    print(
        f"peak PSS total (main + workers, shared pages counted once): {sampler.peak / 2**20:.0f}"
        f" MiB (main {sampler.peak_main / 2**20:.0f} MiB at that moment)"
    )
    waits = lock_waits(app.engine)
    print(
        f"write-lock wait: longest {waits.longest:.2f}s, "
        f"mean {waits.total / max(waits.count, 1):.3f}s over {waits.count} write transactions"
    )
    print(
        f"db bytes per snapshot: first round {growth[0]:.0f}, "
        f"unchanged rounds median {statistics.median(growth[1:] or [0]):.0f}; "
        f"of them the snapshots table and its indexes: first round {snap_growth[0]:.0f}, "
        f"unchanged rounds median {statistics.median(snap_growth[1:] or [0]):.0f}"
    )
    print(
        f"write (the round's commits, summed): first round {write_times[0]:.2f} s, "
        f"later rounds median {statistics.median(write_times[1:] or [0]):.2f} s"
    )
    for proc in servers:
        proc.terminate()
        proc.wait()


class WriteTimer:
    """Sums the wall and CPU time of every ``RoundCommit`` call (each runs in its own thread)
    since the last ``reset``."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0
        self._lock = threading.Lock()
        original = RoundCommit.__call__

        def timed(commit: RoundCommit, *args: Any, **kwargs: Any) -> Any:
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return original(commit, *args, **kwargs)
            finally:
                with self._lock:
                    self.wall += time.perf_counter() - wall
                    self.cpu += time.thread_time() - cpu

        RoundCommit.__call__ = timed  # type: ignore[method-assign]

    def reset(self) -> None:
        self.wall = self.cpu = 0.0


def workers_cpu() -> float:
    return sum(w.cpu for w in shared_pool().usage())


def pss(pid: int | str) -> int:
    """Proportional set size of process ``pid`` in bytes (0 once it is gone)."""
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    return next(
        (int(ln.split()[1]) * 1024 for ln in rollup.splitlines() if ln.startswith("Pss:")), 0
    )


class PssSampler(threading.Thread):
    """Samples the PSS of the main process and of the live parse workers every 0.1 s and
    keeps the largest total; its own CPU is subtracted from the main process's."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = self.peak_main = 0
        self._cpu = 0.0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(0.1):
            start = time.thread_time()
            main = pss("self")
            total = main + sum(pss(w.pid) for w in shared_pool().usage())
            if total > self.peak:
                self.peak, self.peak_main = total, main
            self._cpu += time.thread_time() - start

    def cpu(self) -> float:
        return self._cpu

    def stop(self) -> None:
        self._done.set()
        self.join()


def serve(port: int, page_kb: int) -> None:
    page = (FIX / "search-results-stripped.html").read_bytes()
    if page_kb * 1024 > len(page):  # a real page's size: the padding is markup parsers skip
        page += b"<!-- " + b"x" * (page_kb * 1024 - len(page) - 9) + b" -->"
    server = LocalServer(lambda req: Reply(200, page), port=port).start()
    try:
        signal.sigwait({signal.SIGTERM, signal.SIGINT})
    finally:
        server.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(ports: list[int]) -> None:
    for port in ports:
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)


if __name__ == "__main__":
    main()
