"""Benchmark: the report ``check`` prints after a round of 10,000 series.

    python -m bench.check_table --series 10000 --runs 5

Each run is a fresh interpreter (the report's imports count, as they do for the command):
it builds the rows of a round (1% failed, 1% with a count that moved since the previous
check, the rest unchanged; a CJK name every tenth person), then times importing
``monitor.cli.check_report`` and printing the report to a discarded stream. Prints the
median milliseconds of the default report (failures, changes, alerts, a summary line) and
of ``--all`` (every row).
"""

from __future__ import annotations

import argparse
import io
import statistics
import subprocess
import sys
import time


def one(series: int, show_all: bool) -> float:
    """Milliseconds to import the report module and print one round's report."""
    from monitor.rounds.commit import CheckRow

    rows, priors = [], {}
    for i in range(series):
        person = f"person {i:05d}" if i % 10 else f"人物{i:05d}"
        bad = i % 100 == 0
        rows.append(
            CheckRow(
                person=person,
                term=person,
                source=f"s{i % 6}",
                role="watch",
                status="blocked" if bad else "ok",
                count=None if bad else 40 + i % 7,
                baseline=42.0,
                reason="HTTP 403 from the engine" if bad else None,
                state="normal",
                snapshot_id=i,
            )
        )
        moved = i % 100 == 50
        priors[(person, person, f"s{i % 6}")] = (60 if moved else 40 + i % 7, "normal")
    start = time.perf_counter()
    from monitor.cli.check_report import Prior, print_check_report

    prior = {k: Prior(state, "ok", count) for k, (count, state) in priors.items()}
    print_check_report(rows, prior, [], io.StringIO(), show_all=show_all)
    return (time.perf_counter() - start) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--series", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--once", choices=["default", "all"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.once:
        print(f"{one(args.series, args.once == 'all'):.1f}")
        return
    for mode in ("default", "all"):
        command = [sys.executable, "-m", "bench.check_table", "--series", str(args.series)]
        ms = [
            float(
                subprocess.run(
                    [*command, "--once", mode],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
            )
            for _ in range(args.runs)
        ]
        print(
            f"{mode:>7}: {args.series:,} series, median {statistics.median(ms):.0f} ms "
            f"to import and print ({', '.join(f'{m:.0f}' for m in ms)})"
        )


if __name__ == "__main__":
    main()
