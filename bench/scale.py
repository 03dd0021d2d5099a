"""Benchmark: a cluster's checks per second over 1, 2 and 4 nodes per vantage, its
detection lag, its leader failover, and what a snapshot costs on PostgreSQL.

    python -m bench.scale --database postgresql+psycopg://absence:absence@127.0.0.1:5432/postgres \
        --trials 10 --series 1000 --rounds 5 --nodes 1,2,4 --node-series 10000 --rate 10

(``--database`` defaults to ``$ABSENCE_TEST_POSTGRES_URL``: a server where a scratch
database can be created, ``tests.helpers.backends.fresh_postgres``; dropped at the end.)

- **Leader failover**: two candidates (``daemon.leader.LeaderElection``, each stepping every
  ``leader_lease / 3`` as a node does, at independent phases); the leader's session is ended
  on the server (``pg_terminate_backend``: what a node killed with -9 leaves behind, its
  socket closed) at a random moment of the step cycle, and the time until the other
  candidate leads is measured, ``--trials`` times; median and worst.
- **PostgreSQL bytes per snapshot**: ``--series`` series at each of two vantages written as
  ``--rounds`` rounds each through ``RoundCommit`` (the leader's path: snapshots, image
  sets, detector states, the snapshot log), results unchanged after the first round;
  the growth of the whole database (``pg_database_size``, indexes included) divided by the
  snapshots written, first round (new images) and later rounds apart.

- **Checks per second and detection lag** (``bench.scale_nodes``, where the method is
  described): ``--node-series`` series at each of two vantages, one round per node count
  in ``--nodes``, made by that many real daemon processes per vantage, each limited to
  ``--rate`` checks per second on its engine (one node = one egress address: the rate,
  not this machine's CPU, binds one node per vantage at the default 10/s); checks per
  second against the ideal ``2 x nodes x rate``, and the lag from each round's last check
  to its drop alerts in the outbox (``--erased`` of the people vanish each round).

``--trials 0``, ``--rounds 0`` or ``--nodes ''`` leaves that part out.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from bench.scale_nodes import Bench, Run
from monitor.app import build
from monitor.config import parse_config
from monitor.core.clock import FakeClock
from monitor.core.observation import ImageItem, Observation, Status
from monitor.daemon.leader import LEADER_KEY, LeaderElection
from monitor.rounds.commit import Checked, RoundCommit
from monitor.store import advisory, catalog, migrate
from monitor.store.db import create_db_engine
from tests.helpers.backends import fresh_postgres

START = datetime(2026, 1, 1, tzinfo=UTC)


def failover(url: str, trials: int, lease: timedelta) -> list[float]:
    """Seconds from the leader's session ending to the other candidate leading, per trial."""
    engine = create_db_engine(url)
    out: list[float] = []
    nodes: dict[str, LeaderElection | None] = {
        n: LeaderElection(url, n, lease) for n in ("node-a", "node-b")
    }
    stop = threading.Event()
    lock = threading.Lock()

    def run(name: str) -> None:
        time.sleep(random.uniform(0, lease.total_seconds() / 3))  # an independent phase
        while not stop.is_set():
            with lock:
                election = nodes[name]
            if election is not None:  # None: the node is down
                election.step()
            stop.wait(lease.total_seconds() / 3)

    threads = [threading.Thread(target=run, args=(n,), daemon=True) for n in nodes]
    for t in threads:
        t.start()
    try:
        for _ in range(trials):
            leader = str(
                _wait(lambda: next((n for n, e in nodes.items() if e and e.leading), None))
            )
            # The kill comes at any moment of the candidates' step cycle.
            time.sleep(random.uniform(0, lease.total_seconds() / 3))
            with engine.connect() as conn:
                # This database's holder only: other databases on the server have leaders too.
                pid = advisory.holder_pid(conn, LEADER_KEY)
                if pid is None:
                    raise RuntimeError(f"{leader} leads without holding the lock")
                killed = time.monotonic()
                conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
                conn.commit()
            with lock:  # the killed node is down until the other leads, then restarts
                dead, nodes[leader] = nodes[leader], None
            other = nodes[next(n for n in nodes if n != leader)]
            assert dead is not None and other is not None
            _wait(lambda e=other: e.leading or None)  # type: ignore[misc]
            out.append(time.monotonic() - killed)
            dead.close()  # its session is gone already: only the client side is let go
            with lock:
                nodes[leader] = LeaderElection(url, leader, lease)
            print(f"  trial {len(out)}: {leader} killed, {other.node} led after {out[-1]:.2f} s")
    finally:
        stop.set()
        for t in threads:
            t.join()
        for e in nodes.values():
            if e is not None:
                e.close()
        engine.dispose()
    return out


def _wait(probe: Callable[[], object], bound: float = 120.0) -> object:
    """``probe()``'s first true value, polled every 20 ms for up to ``bound`` seconds."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.02)
    raise RuntimeError("no leader within the bound")


def bytes_per_snapshot(url: str, series: int, rounds: int) -> tuple[float, float]:
    """(first round, later rounds) database bytes per snapshot, two vantages."""
    people = "".join(f"  - {{name: Person {i}}}\n" for i in range(series))
    commits = []
    for vantage in ("cn-beijing", "de"):
        config = parse_config(
            f"database: {{url: '{url}'}}\nvantage: {vantage}\npeople:\n{people}"
            "sources: {baidu: {kind: baidu_images}}\n",
            "config.yaml",
            {},
        )
        app = build(config, channels=[], clock=FakeClock(START))
        with app.sessions() as session, session.begin():
            refs = [r for r in catalog.sync(session, config) if r.role == "watch"]
        commits.append((RoundCommit(app.sessions, config, {"baidu": "chinese"}, []), refs, app))
    engine = create_db_engine(url)

    def size() -> int:
        with engine.connect() as conn:
            return int(conn.scalar(text("SELECT pg_database_size(current_database())")) or 0)

    figures = []
    for n in range(rounds):
        before = size()
        at = START + n * timedelta(hours=6)
        for commit, refs, _ in commits:
            checked = [
                Checked(r, Observation(Status.OK, items=_items(r.person)), at, at) for r in refs
            ]
            commit("baidu", checked, at, "scheduled")
        figures.append((size() - before) / (2 * series))
        print(f"  round {n + 1}: {figures[-1]:,.0f} bytes per snapshot")
    for _, _, app in commits:
        app.engine.dispose()
    engine.dispose()
    return figures[0], statistics.median(figures[1:]) if len(figures) > 1 else float("nan")


def _items(person: str) -> list[ImageItem]:
    tag = person.replace(" ", "-")
    return [ImageItem(f"https://img.example.cn/{tag}/{i}.jpg") for i in range(30)]


def nodes_and_lag(url: str, args: argparse.Namespace) -> list[Run]:
    """One round per node count (``bench.scale_nodes``), printed as it is measured."""
    counts = [int(n) for n in args.nodes.split(",") if n.strip()]
    runs: list[Run] = []
    tmp = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    with Bench(url, tmp, args.node_series, args.rate, args.erased) as bench:
        print(f"  seeding two rounds of history ({args.node_series} series x 2 vantages)")
        seeded = time.monotonic()
        bench.seed()
        print(f"  seeded in {time.monotonic() - seeded:.0f} s; node logs in {tmp}")
        for k in counts:
            started = time.monotonic()
            runs.append(bench.measure(k, args.lead))
            r = runs[-1]
            print(
                f"  {k} node(s) per vantage: {r.rate():.1f} checks/s "
                f"(ideal {2 * k * args.rate:g}), busy cores {r.busy:.2f}, "
                f"lag {', '.join(f'{v} {s:.2f} s' for v, s in sorted(r.lag.items()))}, "
                f"run {time.monotonic() - started:.0f} s"
            )
    return runs


def summary(runs: list[Run], rate: float) -> list[str]:
    """The table's lines."""
    base = runs[0].rate() / runs[0].nodes if runs else 0.0
    lines = [
        "| nodes per vantage | checks/s | ideal (2 x nodes x rate) | vs 1 node | busy cores "
        "| node CPU ms/check | drop alerts | detection lag per vantage |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        made = sum(r.checks.values())
        each = ", ".join(f"{v} {r.lag[v]:.2f} s" for v in sorted(r.lag)) or "none"
        lines.append(
            f"| {r.nodes} | {r.rate():.1f} | {2 * r.nodes * rate:g} | "
            f"{r.rate() / base:.2f}x | {r.busy:.2f} of {os.cpu_count()} | "
            f"{r.node_cpu / max(made, 1) * 1000:.1f} | {sum(r.alerts.values())} | {each} |"
        )
    lags = [v for r in runs for v in r.lag.values()]
    if lags:
        lines.append(
            f"detection lag, {len(lags)} rounds: median {statistics.median(lags):.2f} s, "
            f"worst {max(lags):.2f} s"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default=os.environ.get("ABSENCE_TEST_POSTGRES_URL"))
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--lease", type=float, default=15.0, help="leader_lease, seconds")
    parser.add_argument("--series", type=int, default=1000, help="series per vantage")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--nodes", default="1,2,4", help="node counts per vantage")
    parser.add_argument("--node-series", type=int, default=10_000, help="series per vantage")
    parser.add_argument("--rate", type=float, default=10.0, help="checks/s per node")
    parser.add_argument("--erased", type=float, default=0.01, help="share of people erased")
    parser.add_argument("--lead", type=float, default=90.0, help="seconds for nodes to start")
    args = parser.parse_args()
    if not args.database:
        parser.error("--database (or ABSENCE_TEST_POSTGRES_URL) is needed: a PostgreSQL URL")
    times: list[float] = []
    runs: list[Run] = []
    with fresh_postgres(args.database) as url:
        schema = create_db_engine(url)
        migrate.upgrade(schema)
        schema.dispose()
        if args.trials:
            print(f"leader failover, lease {args.lease:g} s, {args.trials} trials:")
            times = failover(url, args.trials, timedelta(seconds=args.lease))
        if args.rounds:
            print(f"bytes per snapshot, {args.series} series x 2 vantages, {args.rounds} rounds:")
            first, later = bytes_per_snapshot(url, args.series, args.rounds)
    if args.nodes.strip():
        # A database of its own: the failover's and the byte count's rows stay out of it.
        with fresh_postgres(args.database) as url:
            print(
                f"nodes per vantage {args.nodes}, {args.node_series} series x 2 vantages, "
                f"{args.rate:g} checks/s per node:"
            )
            runs = nodes_and_lag(url, args)
    print()
    if times:
        print(f"leader failover: median {statistics.median(times):.2f} s, worst {max(times):.2f} s")
    if args.rounds:
        print(f"PostgreSQL bytes per snapshot: first round {first:,.0f}, later rounds {later:,.0f}")
    if runs:
        print(
            f"{args.node_series:,} series x 2 vantages, one round per node count, "
            f"each node limited to {args.rate:g} checks/s on its engine:"
        )
        for line in summary(runs, args.rate):
            print(line)


if __name__ == "__main__":
    main()
