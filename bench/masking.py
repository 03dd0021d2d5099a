"""Time ``core.masking.mask`` on long hostile texts: it runs on every log line, and scraped
text reaches log lines.

    .venv/bin/python -m bench.masking            # 5k, 10k, 20k, 40k characters
    .venv/bin/python -m bench.masking --sizes 5000 80000 --repeat 7

Prints, per text shape and size, the median seconds of ``--repeat`` runs. Shapes: one long
word (the case that was quadratic: a scheme was tried from every letter), words mixing
digits and letters, repeated ``a://`` and ``a://b:`` fragments, repeated secret query keys,
a log line of ordinary text with URLs, and each of those with five registered secrets.
The aim (issue 14): 40k characters in under 50 ms for every shape.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from monitor.core import masking

SHAPES: dict[str, Callable[[int], str]] = {
    "one long word": lambda n: "a" * n,
    "letters and digits": lambda n: ("a1b2c3d4" * (n // 8 + 1))[:n],
    "digits then letters": lambda n: ("1" * (n // 2) + "a" * n)[:n],
    "a:// repeated": lambda n: ("a://" * (n // 4 + 1))[:n],
    "a://b: repeated": lambda n: ("a://b:" * (n // 6 + 1))[:n],
    "a:b: repeated": lambda n: ("a:b:" * (n // 4 + 1))[:n],
    "?token= repeated": lambda n: ("?token=" * (n // 7 + 1))[:n],
    "log text with URLs": lambda n: (
        "fetched https://u:pw@example.org/a?key=abc&x=1 then 图片 more words " * (n // 60 + 1)
    )[:n],
}


def median_seconds(text: str, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        masking.mask(text)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5_000, 10_000, 20_000, 40_000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    header = f"{'shape':<22}" + "".join(f"{n:>11,}" for n in args.sizes)
    for secrets in (False, True):
        if secrets:
            for s in ("hunter2-password", "sk_live_0123456789", "whsec_abcdef", "tok3n", "pw"):
                masking.register(s)
        print(f"\nmedian seconds of {args.repeat} runs" + (", 5 secrets registered" * secrets))
        print(header)
        worst = 0.0
        for name, make in SHAPES.items():
            row = [median_seconds(make(n), args.repeat) for n in args.sizes]
            worst = max(worst, row[-1])
            print(f"{name:<22}" + "".join(f"{t:>11.4f}" for t in row))
        print(f"slowest at {args.sizes[-1]:,} characters: {worst * 1000:.1f} ms")


if __name__ == "__main__":
    main()
