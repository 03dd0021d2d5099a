"""Benchmark: the cluster's leader failover, and what a snapshot costs on PostgreSQL.

    python -m bench.scale --database postgresql+psycopg://absence:absence@127.0.0.1:5432/postgres \
        --trials 10 --series 1000 --rounds 5

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

Not measured here: checks per second for 1, 2 and 4 nodes per vantage, and the detection
lag from a round's last check to its alerts (they need real node processes and engines).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default=os.environ.get("ABSENCE_TEST_POSTGRES_URL"))
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--lease", type=float, default=15.0, help="leader_lease, seconds")
    parser.add_argument("--series", type=int, default=1000, help="series per vantage")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if not args.database:
        parser.error("--database (or ABSENCE_TEST_POSTGRES_URL) is needed: a PostgreSQL URL")
    with fresh_postgres(args.database) as url:
        schema = create_db_engine(url)
        migrate.upgrade(schema)
        schema.dispose()
        print(f"leader failover, lease {args.lease:g} s, {args.trials} trials:")
        times = failover(url, args.trials, timedelta(seconds=args.lease))
        print(f"bytes per snapshot, {args.series} series x 2 vantages, {args.rounds} rounds:")
        first, later = bytes_per_snapshot(url, args.series, args.rounds)
    print()
    print(f"leader failover: median {statistics.median(times):.2f} s, worst {max(times):.2f} s")
    print(f"PostgreSQL bytes per snapshot: first round {first:,.0f}, later rounds {later:,.0f}")


if __name__ == "__main__":
    main()
