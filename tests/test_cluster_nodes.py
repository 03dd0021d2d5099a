"""Nodes and the leader's fencing epoch in PostgreSQL (``store.cluster``): a live node's
name cannot be taken, a stale epoch writes nothing, a take-over waits for the write in
flight."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from monitor.store import cluster
from monitor.store.cluster import NodeIdentity, NodeNameTaken, StaleEpoch
from monitor.store.models import Node, StagedCheck
from tests.helpers.cluster import ClusterDb, cluster_db, needs_postgres

pytestmark = needs_postgres
NOW = datetime(2026, 12, 8, 2, 0, tzinfo=UTC)
LIVE = timedelta(seconds=45)
A = NodeIdentity("probe-1", "de", "1.0", "host-a", 100)
B = NodeIdentity("probe-1", "hk", "1.0", "host-b", 200)


@pytest.fixture
def db() -> Iterator[ClusterDb]:
    with cluster_db(people=1) as db:
        yield db


def _register(db: ClusterDb, me: NodeIdentity, now: datetime, alive: bool = True) -> None:
    with db.sessions() as session, session.begin():
        cluster.register(session, me, now, LIVE, pid_alive=lambda pid: alive)


def test_a_name_held_by_a_live_node_is_refused_with_who_holds_it(db: ClusterDb) -> None:
    _register(db, A, NOW)
    with pytest.raises(NodeNameTaken, match=r'"probe-1" is held by a running node \(host host-a'):
        _register(db, B, NOW + timedelta(seconds=10))
    with db.sessions() as session:
        [row] = cluster.list_nodes(session)
    assert (row.host, row.vantage) == ("host-a", "de")  # the live node's row is untouched


def test_a_stopped_or_silent_node_s_name_is_taken_over(db: ClusterDb) -> None:
    _register(db, A, NOW)
    with db.sessions() as session, session.begin():
        assert cluster.beat(session, "probe-1", NOW, role="probe", spool_depth=0, stopped=True)
    _register(db, B, NOW + timedelta(seconds=1))  # stopped: free at once
    _register(db, A, NOW + timedelta(seconds=1) + LIVE)  # B silent for 45 s: free
    with db.sessions() as session:
        [row] = cluster.list_nodes(session)
    assert (row.host, row.vantage, row.stopped) == ("host-a", "de", False)


def test_a_restart_on_the_same_host_takes_its_own_name_back(db: ClusterDb) -> None:
    _register(db, A, NOW)
    # kill -9, then started again at once: the row is fresh, its process is gone.
    restarted = NodeIdentity("probe-1", "de", "1.1", "host-a", 101)
    _register(db, restarted, NOW + timedelta(seconds=5), alive=False)
    with pytest.raises(NodeNameTaken):  # the same host, its process still running
        _register(db, NodeIdentity("probe-1", "de", "1.1", "host-a", 102), NOW, alive=True)
    with db.sessions() as session:
        [row] = cluster.list_nodes(session)
    assert (row.pid, row.version) == (101, "1.1")


def test_beat_records_role_and_spool_depth(db: ClusterDb) -> None:
    _register(db, A, NOW)
    later = NOW + timedelta(seconds=15)
    with db.sessions() as session, session.begin():
        assert cluster.beat(session, "probe-1", later, role="leader", spool_depth=7)
        assert not cluster.beat(session, "gone", later, role="probe", spool_depth=0)
    with db.sessions() as session:
        row = session.get(Node, "probe-1")
    assert row is not None
    assert (row.last_seen, row.role, row.spool_depth) == (later, "leader", 7)


def test_each_take_over_has_a_new_epoch_and_renewal_needs_the_current_one(
    db: ClusterDb,
) -> None:
    with db.sessions() as session, session.begin():
        first = cluster.take_over(session, "a", timedelta(seconds=15))
    with db.sessions() as session, session.begin():
        second = cluster.take_over(session, "b", timedelta(seconds=15))
    assert second == first + 1
    with db.sessions() as session, session.begin():
        assert not cluster.renew(session, "a", first, timedelta(seconds=15))
        assert cluster.renew(session, "b", second, timedelta(seconds=15))
        state = cluster.leader_state(session)
    assert (state.epoch, state.leader) == (second, "b")
    with db.sessions() as session, session.begin():
        cluster.resign(session, "b", second)
        assert cluster.leader_state(session).leader is None


def test_a_write_under_a_stale_epoch_raises_and_writes_nothing(db: ClusterDb) -> None:
    with db.sessions() as session, session.begin():
        old = cluster.take_over(session, "a", timedelta(seconds=15))
        cluster.take_over(session, "b", timedelta(seconds=15))
    stale = pytest.raises(StaleEpoch, match=f"leader epoch {old} is stale")
    with stale, db.sessions() as session, session.begin():
        # Written before the fence here (the leader fences first), to show the whole
        # transaction goes: what the stale leader did in it is rolled back.
        session.add(
            Node(
                name="never",
                vantage="x",
                version="1",
                host="h",
                pid=1,
                started_at=NOW,
                last_seen=NOW,
            )
        )
        session.flush()
        cluster.fence(session, old)
    with db.sessions() as session:
        assert session.get(Node, "never") is None
        assert session.scalar(select(func.count()).select_from(StagedCheck)) == 0


def test_a_take_over_waits_for_the_fenced_write_in_flight(db: ClusterDb) -> None:
    with db.sessions() as session, session.begin():
        epoch = cluster.take_over(session, "a", timedelta(seconds=15))
    leader = db.sessions()
    leader.begin()
    cluster.fence(leader, epoch)  # the old leader's round commit, in flight
    took: list[int] = []
    thread = threading.Thread(target=lambda: took.append(_take_over(db, "b")))
    thread.start()
    thread.join(0.5)
    assert took == []  # waits for the row the fence holds
    leader.commit()
    leader.close()
    thread.join(10)
    assert took == [epoch + 1]


def _take_over(db: ClusterDb, node: str) -> int:
    with db.sessions() as session, session.begin():
        return cluster.take_over(session, node, timedelta(seconds=15))


def test_the_leader_renews_its_lease_while_its_own_fenced_write_is_in_flight(
    db: ClusterDb,
) -> None:
    # A round of 10,000 checks took the leader 40 s and more to store (bench.scale): a
    # renewal waiting for it let the lease run out, and the other nodes unseated it.
    with db.sessions() as session, session.begin():
        epoch = cluster.take_over(session, "a", timedelta(seconds=15))
    leader = db.sessions()
    leader.begin()
    cluster.fence(leader, epoch)  # the leader's own round commit, in flight
    try:
        with db.sessions() as session, session.begin():
            session.execute(text("SET LOCAL lock_timeout = '2s'"))
            assert cluster.renew(session, "a", epoch, timedelta(seconds=15))
            cluster.resign(session, "a", epoch)  # an update of the lease, like a renewal
    finally:
        leader.rollback()
        leader.close()
