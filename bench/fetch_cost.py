"""Benchmark: the main process's CPU per request on the fetch path, side by side with older trees.

    python -m bench.fetch_cost --requests 300 --rounds 5 --baseline /tmp/old-tree

One local server on 127.0.0.1 (threads of this process) serves the 300 Bing-format pages of
``bench.peer_urlwatch`` (about 20 KB each). A child process per run and per tree imports the
monitor (``PYTHONPATH=DIR`` for a baseline tree, this environment's libraries), builds a
``bing_images`` source at that server (rate unlimited, 10 in flight, as ``peer_urlwatch``)
and one ``Fetcher``, and then times, by its own CPU clock (``time.process_time``: the server's
threads are not in it, nor imports and start-up):

- ``build``: ``source.build_request`` for every term, alone;
- ``cold``: a first round of ``build_request`` + ``Fetcher.fetch`` (body read, capped and
  decoded) for every term, all started at once and bounded by the host's limiter: new
  connections, as in a one-shot ``check``;
- ``warm``: the same round again on the same fetcher: kept-alive connections, as in every
  later round of the daemon.

Figures are CPU microseconds per request (medians over ``--rounds`` runs, trees alternated).
``--profile FILE`` also saves a cProfile of one run's cold and warm rounds (the current tree).
No socket is opened beyond 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.peer_urlwatch import build_pages
from monitor.testing import LocalServer, Reply, Request

CLIENT = r"""
import asyncio, cProfile, json, sys, time
from monitor.fetch.client import Fetcher
from monitor.fetch.policy import FetchPolicy
from monitor.sources.bing import BingImages

url, count, profile = sys.argv[1], int(sys.argv[2]), sys.argv[3]
source = BingImages(
    "bing", BingImages.Options(
        kind="bing_images", base_url=url, rate="100000/1s", concurrency=10
    )
)
policy = FetchPolicy.from_options(source.options)
terms = [f"person {i:05d}" for i in range(count)]

start = time.process_time()
for term in terms:
    source.build_request(term, 0)
build = time.process_time() - start

async def one(fetcher, term):
    result = await fetcher.fetch(source.build_request(term, 0), policy)
    assert result.ok, result.reason
    return len(result.response.content)

async def timed_round(fetcher):
    start = time.process_time()
    sizes = await asyncio.gather(*(one(fetcher, t) for t in terms))
    assert min(sizes) > 10000, min(sizes)
    return time.process_time() - start

async def main():
    profiler = cProfile.Profile(time.process_time) if profile else None
    async with Fetcher() as fetcher:
        if profiler:
            profiler.enable()
        cold = await timed_round(fetcher)
        warm = await timed_round(fetcher)
        if profiler:
            profiler.disable()
            profiler.dump_stats(profile)
    return cold, warm

cold, warm = asyncio.run(main())
print(json.dumps({"build": build, "cold": cold, "warm": warm}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--requests", type=int, default=300, help="pages (requests per round)")
    ap.add_argument("--rounds", type=int, default=5, help="runs of each tree")
    ap.add_argument(
        "--baseline",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="also time the monitor of this source tree (PYTHONPATH=DIR); repeatable",
    )
    ap.add_argument("--profile", type=Path, metavar="FILE", help="save a cProfile of one run")
    args = ap.parse_args()

    pages = build_pages(args.requests, 20 * 1024)
    by_term = {f"person {i:05d}": page for i, page in enumerate(pages)}

    def handler(req: Request) -> Reply:
        page = by_term.get((req.query.get("q") or [""])[0])
        return Reply(404, b"unknown query") if page is None else Reply(200, page)

    trees: dict[str, dict[str, str]] = {"current": {}}
    trees.update({f"@{d.name}": {"PYTHONPATH": str(d.resolve())} for d in args.baseline})
    figures: dict[str, dict[str, list[float]]] = {t: {} for t in trees}
    server = LocalServer(handler).start()
    work = tempfile.mkdtemp(prefix="bench-fetch-cost-")
    try:
        print(f"{args.requests} pages, one server at {server.url}; {args.rounds} runs each")
        for n in range(args.rounds):
            line = []
            for label, env in trees.items():
                profile = str(args.profile.resolve()) if args.profile and n == 0 else ""
                got = run_client(server.url, args.requests, env, work, profile if not env else "")
                for phase, cpu in got.items():
                    figures[label].setdefault(phase, []).append(cpu / args.requests * 1e6)
                shown = " ".join(f"{p} {v[-1]:6.0f}" for p, v in figures[label].items())
                line.append(f"{label}: {shown}")
            print(f"run {n + 1} (CPU us/request): " + " | ".join(line), flush=True)
    finally:
        server.stop()
    for label, phases in figures.items():
        shown = ", ".join(f"{p} {statistics.median(v):.0f}" for p, v in phases.items())
        print(f"{label}: CPU us per request, medians of {args.rounds}: {shown}")
    if args.profile:
        print(f"cProfile of the current tree's first run saved to {args.profile}")


def run_client(
    url: str, count: int, env: dict[str, str], cwd: str, profile: str
) -> dict[str, float]:
    """One child process's figures (CPU seconds of each phase)."""
    full = {**os.environ, **env}
    cmd = [sys.executable, "-c", CLIENT, url, str(count), profile]
    done = subprocess.run(cmd, cwd=cwd, env=full, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"the client failed:\n{done.stderr[-2000:]}")
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


if __name__ == "__main__":
    main()
