"""Benchmark: the real daemon process with many series at a short interval.

    python -m bench.daemon_soak --series 1000 --every 30s --minutes 10

Engines run in other processes (bench.round's servers); the daemon runs as
``absence-monitor run`` on a temporary SQLite file. Samples from /proc every second the RSS of
the daemon and of its parse workers (its child processes), and prints per minute the peak
of the daemon, of its largest worker and of all its workers (a spare worker comes and goes);
"flat" when the last minute's peak is within 5% of the second minute's (the
first holds the start-up). Then checks completed and the scheduler lag (how late each round
started after its scheduled time: median and p99, from the daemon's own log lines; the goal
is p99 <= 1 s).
"""

from __future__ import annotations

import argparse
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.round import free_port, wait_listening


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def children(pid: int) -> list[int]:
    """The daemon's child processes (its parse workers), from /proc."""
    kids: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            kids += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return kids


def sample(pid: int) -> tuple[float, float, float, int]:
    """The daemon's RSS, its largest worker's and its workers' summed RSS (MiB), and the
    number of workers."""
    sizes = []
    kids = children(pid)
    for kid in kids:
        try:
            sizes.append(rss_mib(kid))
        except OSError:  # a worker replaced between the listing and the read
            continue
    return rss_mib(pid), max(sizes, default=0.0), sum(sizes), len(kids)


Minute = tuple[float, float, float, int]  # daemon, largest worker, all workers, most workers


def per_minute(samples: list[tuple[float, float, float, float, int]]) -> list[Minute]:
    """The peak of each figure of ``sample`` in each minute (a last minute with under 30
    samples, the moments before the stop, is left out)."""
    minutes: dict[int, list[Minute]] = {}
    for t, daemon, largest, total, n in samples:
        minutes.setdefault(int(t // 60), []).append((daemon, largest, total, n))
    return [
        (
            max(f[0] for f in v),
            max(f[1] for f in v),
            max(f[2] for f in v),
            max(f[3] for f in v),
        )
        for m, v in sorted(minutes.items())
        if len(v) >= 30 or m == 0
    ]


def flat(first: float, last: float) -> str:
    change = (last - first) / first * 100 if first else 0.0
    return f"{change:+.1f}% ({'flat' if abs(change) <= 5 else 'NOT flat'})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--series", type=int, default=1000)
    ap.add_argument("--hosts", type=int, default=6)
    ap.add_argument("--every", default="30s")
    ap.add_argument("--minutes", type=float, default=10)
    args = ap.parse_args()

    ports = [free_port() for _ in range(args.hosts)]
    servers = [
        subprocess.Popen([sys.executable, "-m", "bench.round", "--serve", str(p)]) for p in ports
    ]
    wait_listening(ports)
    tmp = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    per_host = -(-args.series // args.hosts)
    people = "\n".join(f"  - name: person {i:05d}" for i in range(per_host))
    sources = "\n".join(
        f"  s{h}:\n    kind: bing_images\n    base_url: http://127.0.0.1:{p}\n"
        f"    rate: 200/1s\n    concurrency: 4\n    every: {args.every}"
        for h, p in enumerate(ports)
    )
    cfg = tmp / "config.yaml"
    cfg.write_text(
        f"database: {{url: 'sqlite:///{tmp / 'soak.db'}'}}\npeople:\n{people}\n"
        f"sources:\n{sources}\n",
        encoding="utf-8",
    )
    log = tmp / "daemon.log"
    with log.open("w") as out:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(cfg), "run"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    print(
        f"{per_host * args.hosts} series on {args.hosts} hosts every {args.every} "
        f"for {args.minutes} min; log {log}"
    )
    samples: list[tuple[float, float, float, float, int]] = []
    start = time.monotonic()
    try:
        while time.monotonic() - start < args.minutes * 60:
            time.sleep(1)
            samples.append((time.monotonic() - start, *sample(daemon.pid)))
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
        for s in servers:
            s.terminate()
    text = log.read_text()
    lags = [float(x) for x in re.findall(r"started ([0-9.]+)s after its scheduled time", text)]
    checks = len(re.findall(r"monitor\.rounds\.runner: check ", text))
    print(f"checks completed: {checks} ({checks / (samples[-1][0]):.0f}/s average)")
    minutes = per_minute(samples)
    print("peak RSS in MiB per minute: the daemon, its largest parse worker, all its workers")
    print("minute  daemon  largest worker  all workers (most at once)")
    for i, (d, w, total, n) in enumerate(minutes, 1):
        print(f"{i:>6}  {d:>6.1f}  {w:>14.1f}  {total:>11.1f} ({n})")
    if len(minutes) >= 3:
        print(f"daemon RSS, last minute vs second: {flat(minutes[1][0], minutes[-1][0])}")
        print(f"largest worker, last minute vs second: {flat(minutes[1][1], minutes[-1][1])}")
    if lags:
        lags.sort()
        p99 = lags[min(len(lags) - 1, int(0.99 * len(lags)))]
        print(
            f"scheduler lag over {len(lags)} rounds: median {statistics.median(lags):.3f}s, "
            f"p99 {p99:.3f}s ({'within' if p99 <= 1 else 'OVER'} 1 s)"
        )
    print(f"daemon exit code {daemon.returncode}")


if __name__ == "__main__":
    main()
