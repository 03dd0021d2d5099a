"""Detector throughput: push synthetic observations through ``Engine``; print obs/second.

    .venv/bin/python bench/detector_speed.py [--observations 1000000] [--runs 3]

The corpus is generated before timing (it is not what is measured): 40 people and 3
controls on each of 7 sources at a 6-hour cadence for as many checks as it takes, with
noise on log counts, 3% failed checks, and a few erasures so that the drop, episode and
corroboration paths run too. Reports the median of the runs.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import time
from datetime import UTC, datetime, timedelta

from monitor.core.observation import Status
from monitor.detector import Engine, Point, Role, SeriesKey

SOURCES = {
    "baidu_images": "chinese",
    "sogou_images": "chinese",
    "so_images": "chinese",
    "bing_images": "bing",
    "google_cse": "google",
    "wikimedia_commons": "independent",
    "gdelt": "independent",
}
PEOPLE = 40
CONTROLS = 3
T0 = datetime(2024, 1, 1, tzinfo=UTC)

Record = tuple[SeriesKey, Role, Point]


def corpus(n: int, seed: int = 1) -> list[Record]:
    """About ``n`` time-ordered records."""
    rng = random.Random(seed)
    series: list[tuple[SeriesKey, Role, float]] = []
    for source in SOURCES:
        for p in range(PEOPLE):
            level = math.exp(rng.uniform(math.log(20), math.log(200)))
            series.append((SeriesKey(f"person{p}", f"term{p}", source), "watch", level))
        for c in range(CONTROLS):
            series.append((SeriesKey(f"control{c}", f"control{c}", source), "control", 300.0))
    rounds = math.ceil(n / len(series))
    erased = {f"person{p}": rng.randrange(rounds // 4, rounds) for p in range(0, PEOPLE, 8)}
    records: list[Record] = []
    for r in range(rounds):
        base = T0 + timedelta(hours=6 * r)
        for i, (key, role, level) in enumerate(series):
            t = base + timedelta(seconds=5 * i)
            if rng.random() < 0.03:
                records.append((key, role, Point(t, Status.BLOCKED)))
                continue
            gone = key.person in erased and r >= erased[key.person] and key.source != "gdelt"
            count = 0 if gone else max(0, round(level * math.exp(rng.gauss(0, 0.25))))
            status = Status.OK if count else Status.NO_RESULTS
            records.append((key, role, Point(t, status, count, count // 3)))
            if len(records) >= n:
                return records
    return records


def run_once(records: list[Record]) -> tuple[float, int]:
    engine = Engine(families=SOURCES)
    start = time.perf_counter()
    events = engine.run(records)
    return time.perf_counter() - start, len(events)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--observations", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    records = corpus(args.observations)
    times = []
    events = 0
    for _ in range(args.runs):
        elapsed, events = run_once(records)
        times.append(elapsed)
    median = statistics.median(times)
    print(
        f"{len(records):,} observations, {events} events; median of {args.runs} runs: "
        f"{median:.2f} s = {len(records) / median:,.0f} observations/second"
    )


if __name__ == "__main__":
    main()
