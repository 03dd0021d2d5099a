"""Backtest throughput: a million observations from a JSON Lines file through the backtest.

    .venv/bin/python -m bench.backtest_speed [--observations 1000000] [--runs 3] [--keep DIR]

The input is the detection benchmark's corpus (``bench.detection.generate``, seed 1: 40
people and 3 controls on 7 sources at a 6-hour cadence, with failed checks of every kind,
engine incidents and labelled erasures), generated long enough and cut at
``--observations`` lines. Generating it is not timed. What is timed is what
``absence-monitor backtest FILE -o alerts.jsonl`` does after loading the config: read and
check every line, replay it through the detector, build each alert's payload and write it.
Prints observations/second and seconds, median of ``--runs``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from itertools import islice
from pathlib import Path

from bench.detection.corpus import CHECKS_PER_DAY
from bench.detection.generate import generate
from monitor.backtest.records import JsonlReader
from monitor.backtest.replay import ReplayedAlert, Replayer, Setup, alert_line, run_backtest

SERIES = 40 * 7 + 3 * 7  # people x sources + controls x sources (generate's defaults)
MIN_DAYS = 45  # the shortest corpus bench.detection.plan will plan; cut down to n lines anyway


def corpus(n: int, directory: Path) -> Path:
    """A file of exactly ``n`` observation lines (fewer only if the generator gives fewer)."""
    path = directory / f"observations-{n}.jsonl"
    if path.exists():
        return path
    days = max(MIN_DAYS, n // (SERIES * CHECKS_PER_DAY) + 2)
    full, _ = generate(1, directory / "corpus", days=days)
    with full.open(encoding="utf-8") as src, path.open("w", encoding="utf-8") as dst:
        dst.writelines(islice(src, n))
    return path


def run_once(path: Path, out: Path) -> tuple[float, int, int, int]:
    """Seconds, records replayed, bad records, alerts."""
    start = time.perf_counter()
    reader = JsonlReader(str(path), default_vantage="default")
    with out.open("w", encoding="utf-8") as f:

        def emit(alert: ReplayedAlert) -> None:
            f.write(alert_line(alert))

        summary = run_backtest(reader, Replayer(Setup()), emit)
    return time.perf_counter() - start, summary.replayed, summary.bad, summary.alerts


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--observations", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="Keep (and reuse) the corpus in this folder.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = args.keep or Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        path = corpus(args.observations, directory)
        lines = sum(1 for _ in path.open(encoding="utf-8"))
        times = []
        for _ in range(args.runs):
            elapsed, replayed, bad, alerts = run_once(path, directory / "alerts.jsonl")
            times.append(elapsed)
            print(f"  run: {elapsed:.2f} s")
        median = statistics.median(times)
        print(
            f"{lines:,} lines ({replayed:,} replayed, {bad} bad), {alerts} alerts; "
            f"median of {args.runs} runs: {median:.2f} s = {lines / median:,.0f} "
            "observations/second"
        )


if __name__ == "__main__":
    main()
