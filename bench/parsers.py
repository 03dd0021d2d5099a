"""Benchmark: CPU milliseconds per page of each source's parser, on its saved responses.

    python -m bench.parsers                        # this tree
    python -m bench.parsers --old /tmp/old-tree    # side by side: another checkout's parsers

Each parser (``Source.parse``, as the pipeline calls it, the depth guard included) reads
every golden case of its kind in ``tests/fixtures/sources/<kind>/`` (captured answers; a
kind with none captured uses its constructed ones, marked ``*``), two Bing-format pages
of 20 KB and 144 KB (the fixture's anchors repeated, as ``bench.peer_urlwatch`` serves
them) and two RSS feeds of 60 KB and 600 KB (the feed fixture's items repeated). A page is
parsed ``--repeat`` times after one untimed warm-up; the figure is the
median CPU time (``time.process_time``) over all pages' runs, and the slowest page's median.

With ``--old``, each tree's parsers run in a child process of their own (``PYTHONPATH`` set
to the tree), alternately ``--rounds`` times, so both meet the same machine load; the table
gives both medians and the ratio new/old.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BING_SIZES = {"bing_images@20KB": 20_000, "bing_images@144KB": 144_000}
FEED_SIZES = {"feed@60KB": 60_000, "feed@600KB": 600_000}
FEED = ROOT / "tests" / "fixtures" / "sources" / "feed" / "rss-media-content"


def feed_page(size: int) -> tuple[bytes, dict[str, object]]:
    """The constructed RSS feed with its items repeated to about ``size`` bytes (a news
    site's feed lists 20 to 100 items; a big one is 1 MB), and its golden case's spec."""
    body = FEED.with_suffix(".xml").read_bytes()
    head, rest = body.split(b"<item>", 1)
    items, tail = rest.rsplit(b"</item>", 1)
    block = b"<item>" + items + b"</item>"
    spec: dict[str, object] = json.loads(FEED.with_suffix(".expected.json").read_text())
    return head + block * max(1, size // len(block)) + tail, spec


def pages() -> dict[str, list[tuple[str, bytes, dict[str, object]]]]:
    """Per parser label, its (case, body, spec) triples."""
    from bench.peer_urlwatch import build_pages
    from tests.helpers.golden import discover

    by_kind: dict[str, list[tuple[str, bytes, dict[str, object]]]] = defaultdict(list)
    built: dict[str, list[tuple[str, bytes, dict[str, object]]]] = defaultdict(list)
    for case in discover():
        target = built if case.spec.get("constructed") else by_kind
        target[case.kind].append((case.name, case.body, case.spec))
    for kind, cases in built.items():
        if kind not in by_kind:
            by_kind[kind + "*"] = cases
    for label, size in BING_SIZES.items():
        by_kind[label] = [(label, build_pages(1, size)[0], {})]
    for label, size in FEED_SIZES.items():
        by_kind[label] = [(label, *feed_page(size))]
    return dict(by_kind)


def measure(repeat: int) -> dict[str, dict[str, list[float]]]:
    """CPU ms of each run, per parser label and page."""
    import httpx

    from monitor.core.errors import SourceError
    from tests.helpers.golden import make_source

    out: dict[str, dict[str, list[float]]] = {}
    for label, cases in pages().items():
        kind = label.split("@")[0].rstrip("*")
        out[label] = {}
        for name, body, spec in cases:
            options = spec.get("options", {})
            assert isinstance(options, dict)
            source = make_source(kind, **options)
            page = int(str(spec.get("page", 0)))
            request = source.build_request(str(spec.get("term", "test")), page)
            if "url" in spec:
                request = httpx.Request("GET", str(spec["url"]), headers=request.headers)
            headers = {"content-type": str(spec["content_type"])} if "content_type" in spec else {}
            status = int(str(spec.get("http_status", 200)))
            if status >= 400:
                continue  # the fetcher answers these; no parser runs
            runs: list[float] = []
            for n in range(repeat + 1):
                response = httpx.Response(status, headers=headers, content=body, request=request)
                start = time.process_time()
                # A refusal or a parse error is the parser's answer, timed like any other.
                with contextlib.suppress(SourceError):
                    source.parse(response, page)
                if n:  # the first run warms caches and imports
                    runs.append((time.process_time() - start) * 1000)
            out[label][name] = runs
    return out


def child(tree: Path, repeat: int) -> dict[str, dict[str, list[float]]]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    # Run from the tree so that ``bench`` and ``tests`` are that tree's too.
    cmd = [sys.executable, "-c", CHILD.format(repeat=repeat)]
    done = subprocess.run(cmd, env=env, cwd=tree, capture_output=True, text=True, check=True)
    result: dict[str, dict[str, list[float]]] = json.loads(done.stdout)
    return result


CHILD = f"""
import json, runpy, sys
sys.argv = ["bench.parsers"]
ns = runpy.run_path({str(Path(__file__).resolve())!r})
print(json.dumps(ns["measure"]({{repeat}})))
"""


def summary(runs: dict[str, list[float]]) -> tuple[int, float, float]:
    """Pages, median ms over every run of every page, the slowest page's median."""
    every = [t for r in runs.values() for t in r]
    worst = max((statistics.median(r) for r in runs.values() if r), default=0.0)
    return len(runs), statistics.median(every) if every else 0.0, worst


def merge(into: dict[str, dict[str, list[float]]], more: dict[str, dict[str, list[float]]]) -> None:
    for label, by_page in more.items():
        for name, runs in by_page.items():
            into.setdefault(label, {}).setdefault(name, []).extend(runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=20, help="timed parses per page and round")
    ap.add_argument("--rounds", type=int, default=3, help="alternations with --old")
    ap.add_argument("--old", type=Path, help="another checkout to compare against")
    args = ap.parse_args()
    if args.old is None:
        sys.path.insert(0, str(ROOT))
        for label, runs in sorted(measure(args.repeat).items()):
            n, median, worst = summary(runs)
            print(f"{label:28} {n:3} pages  median {median:7.2f} ms  slowest page {worst:7.2f} ms")
        return
    new: dict[str, dict[str, list[float]]] = {}
    old: dict[str, dict[str, list[float]]] = {}
    for _ in range(args.rounds):
        merge(old, child(args.old.resolve(), args.repeat))
        merge(new, child(ROOT, args.repeat))
    print(f"{'parser':28} pages  old median  new median  new/old  (slowest page old → new)")
    for label in sorted(new):
        n, new_median, new_worst = summary(new[label])
        _, old_median, old_worst = summary(old.get(label, {}))
        ratio = new_median / old_median if old_median else float("nan")
        print(
            f"{label:28} {n:5} {old_median:8.2f} ms {new_median:8.2f} ms  {ratio:6.2f}×"
            f"  ({old_worst:.2f} → {new_worst:.2f} ms)"
        )


if __name__ == "__main__":
    main()
