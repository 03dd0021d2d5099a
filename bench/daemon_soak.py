"""Benchmark: the real daemon process with many series at a short interval.

    python -m bench.daemon_soak --series 1000 --every 30s --minutes 10

Engines run in other processes (bench.round's servers); the daemon runs as
``absence-monitor run`` on a temporary SQLite file. Prints the daemon's RSS early and at the
end (sampled from /proc every second), rounds and checks completed, and the scheduler lag
(how late each round started after its scheduled time: median and p99, from the daemon's
own log lines).
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
    samples: list[tuple[float, float]] = []
    start = time.monotonic()
    try:
        while time.monotonic() - start < args.minutes * 60:
            time.sleep(1)
            samples.append((time.monotonic() - start, rss_mib(daemon.pid)))
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
        for s in servers:
            s.terminate()
    text = log.read_text()
    lags = [float(x) for x in re.findall(r"started ([0-9.]+)s after its scheduled time", text)]
    checks = len(re.findall(r"monitor\.pipeline: check ", text))
    first_minute = [r for t, r in samples if 30 <= t <= 90] or [samples[0][1]]
    last_minute = [r for t, r in samples if t >= samples[-1][0] - 60]
    print(f"checks completed: {checks} ({checks / (samples[-1][0]):.0f}/s average)")
    print(
        f"RSS: {max(first_minute):.0f} MiB peak in minute 1, "
        f"{max(last_minute):.0f} MiB peak in the last minute, {max(r for _, r in samples):.0f} "
        "MiB peak overall"
    )
    if lags:
        lags.sort()
        p99 = lags[min(len(lags) - 1, int(0.99 * len(lags)))]
        print(
            f"scheduler lag over {len(lags)} rounds: median {statistics.median(lags):.3f}s, "
            f"p99 {p99:.3f}s"
        )
    print(f"daemon exit code {daemon.returncode}")


if __name__ == "__main__":
    main()
