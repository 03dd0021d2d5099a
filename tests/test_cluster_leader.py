"""Leader election on a real PostgreSQL (``daemon.leader``): one leader at a time, a
successor once the leader's connection dies or its lease is long past, and a deposed
leader that can no longer write."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from monitor.daemon.leader import LEADER_KEY, LeaderElection
from monitor.store import advisory, cluster
from monitor.store.cluster import StaleEpoch
from monitor.store.models import Node
from tests.helpers.cluster import ClusterDb, cluster_db, needs_postgres
from tests.helpers.leader_child import WRITTEN

pytestmark = needs_postgres
LEASE = timedelta(seconds=15)
ROOT = Path(__file__).resolve().parents[1]


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def db() -> Iterator[ClusterDb]:
    with cluster_db(people=1) as db:
        yield db


@pytest.fixture
def nodes(db: ClusterDb) -> Iterator[list[LeaderElection]]:
    made: list[LeaderElection] = []
    yield made
    for node in made:
        node.close()


def _node(db: ClusterDb, nodes: list[LeaderElection], name: str, **kw: object) -> LeaderElection:
    node = LeaderElection(db.url, name, LEASE, sleep=lambda s: None, **kw)  # type: ignore[arg-type]
    nodes.append(node)
    return node


def _admin(db: ClusterDb, sql: str) -> None:
    engine = create_engine(db.url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(sql))
    engine.dispose()


def _holder(db: ClusterDb) -> int | None:
    engine = create_engine(db.url)
    with engine.connect() as conn:
        pid = advisory.holder_pid(conn, LEADER_KEY)
    engine.dispose()
    return pid


def test_a_second_candidate_waits_while_the_leader_renews(
    db: ClusterDb, nodes: list[LeaderElection]
) -> None:
    a, b = _node(db, nodes, "a"), _node(db, nodes, "b")
    assert a.step()
    assert not b.step()
    assert a.step()  # renewed
    assert not b.step()
    assert (a.epoch, b.epoch) == (1, None)
    with db.sessions() as session:
        assert cluster.leader_state(session).leader == "a"


def test_another_node_takes_over_when_the_leader_s_connection_dies(
    db: ClusterDb, nodes: list[LeaderElection]
) -> None:
    a, b = _node(db, nodes, "a"), _node(db, nodes, "b")
    assert a.step()
    old = a.epoch
    assert old is not None
    # kill -9 or a partition the server noticed: the session ends, its lock with it.
    _admin(db, f"SELECT pg_terminate_backend({_holder(db)})")
    assert b.step()
    assert b.epoch == old + 1
    assert not a.step()  # its renewal fails: it steps down at once
    assert a.epoch is None
    with pytest.raises(StaleEpoch), db.sessions() as session, session.begin():
        cluster.fence(session, old)


def test_a_leader_paused_past_its_lease_is_unseated_and_cannot_renew(
    db: ClusterDb, nodes: list[LeaderElection]
) -> None:
    a, b = _node(db, nodes, "a"), _node(db, nodes, "b")
    assert a.step()
    pid = _holder(db)
    # SIGSTOPped: its kernel keeps the session (and the lock) alive, its lease runs out.
    _admin(db, "UPDATE leadership SET lease_until = now() - interval '3 seconds'")
    assert not b.step()  # past the lease by less than a renewal interval: not yet
    _admin(db, "UPDATE leadership SET lease_until = now() - interval '1 minute'")
    assert b.step()
    assert _holder(db) not in (None, pid)
    assert b.epoch == 2
    assert not a.step()  # SIGCONT: its session is gone, its epoch stale
    with db.sessions() as session:
        assert cluster.leader_state(session).leader == "b"


def test_a_leader_whose_renewals_stall_stops_leading_after_its_lease(
    db: ClusterDb, nodes: list[LeaderElection]
) -> None:
    ticks = Ticks()
    a = _node(db, nodes, "a", monotonic=ticks)
    assert a.step()
    ticks.now += LEASE.total_seconds() - 1
    assert a.leading
    ticks.now += 1
    assert not a.leading
    assert a.epoch is None
    assert a.step()  # a renewal that gets through makes it lead again, same epoch
    assert a.epoch == 1


def test_a_leader_that_closes_hands_over_at_once(
    db: ClusterDb, nodes: list[LeaderElection]
) -> None:
    a, b = _node(db, nodes, "a"), _node(db, nodes, "b")
    assert a.step()
    a.close()
    assert _holder(db) is None
    assert b.step()
    assert b.epoch == 2


def test_the_leader_s_connection_has_keepalives_and_a_tcp_user_timeout(
    db: ClusterDb,
) -> None:
    conn = advisory.dedicated_connection(db.url, "test")
    try:
        shown = {
            name: conn.execute(text(f"SHOW {name}")).scalar()
            for name in (
                "tcp_keepalives_idle",
                "tcp_keepalives_interval",
                "tcp_keepalives_count",
                "tcp_user_timeout",
            )
        }
    finally:
        conn.close()
    assert shown == {
        "tcp_keepalives_idle": "5",
        "tcp_keepalives_interval": "2",
        "tcp_keepalives_count": "3",
        "tcp_user_timeout": "10000",
    }


def test_a_candidate_without_its_database_does_not_lead(nodes: list[LeaderElection]) -> None:
    # Port 9 on loopback: nothing listens; the connection is refused at once.
    a = LeaderElection(
        "postgresql+psycopg://absence@127.0.0.1:9/none", "a", LEASE, sleep=lambda s: None
    )
    nodes.append(a)
    assert not a.step()
    assert a.epoch is None


@pytest.mark.e2e
def test_a_sigstopped_leader_is_replaced_and_after_sigcont_writes_nothing(
    db: ClusterDb, nodes: list[LeaderElection]
) -> None:
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.helpers.leader_child", db.url],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert _line(child) == "leading 1"
        os.kill(child.pid, signal.SIGSTOP)  # its kernel still answers keepalives
        new = LeaderElection(db.url, "new", timedelta(seconds=3), sleep=time.sleep)
        nodes.append(new)
        started = time.monotonic()
        while not new.step():
            assert time.monotonic() - started < 20, "no take-over within 20 s"
            time.sleep(0.2)
        os.kill(child.pid, signal.SIGCONT)
        assert child.stdin is not None
        child.stdin.write("write\n")
        child.stdin.flush()
        assert [_line(child), _line(child)] == ["stale", "step False"]
        assert child.wait(20) == 0
    finally:
        child.kill()
        child.communicate()  # reaps it and closes its pipes
    assert new.epoch == 2
    with db.sessions() as session:
        assert session.get(Node, WRITTEN) is None
        assert cluster.leader_state(session).leader == "new"


def _line(child: subprocess.Popen[str]) -> str:
    """The child's next line, within 20 s."""
    assert child.stdout is not None
    ready, _, _ = select.select([child.stdout], [], [], 20)
    assert ready, "the child said nothing within 20 s"
    return child.stdout.readline().strip()
