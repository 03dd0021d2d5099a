"""How a vantage's nodes share a round's checks in PostgreSQL (``store.claims``): each
claim goes to one node, a dead node's claims return after their lease, a check staged
twice (or already stored) counts once."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from monitor.store import claims
from monitor.store.models import Snapshot, StagedCheck
from tests.helpers.cluster import ClusterDb, cluster_db, needs_postgres

pytestmark = needs_postgres
NOW = datetime(2026, 12, 8, 2, 0, tzinfo=UTC)
LEASE = timedelta(minutes=2)
SLOT = claims.slot_of(NOW, timedelta(hours=6))


@pytest.fixture
def db() -> Iterator[ClusterDb]:
    with cluster_db(people=6) as db:
        yield db


def _ensure(db: ClusterDb) -> tuple[int, list[int]]:
    source_id = db.refs[0].source_id
    series = [r.series_id for r in db.refs]
    with db.sessions() as session, session.begin():
        claims.ensure_claims(session, source_id, "de", SLOT, series)
        claims.ensure_claims(session, source_id, "de", SLOT, series)  # a second node: no-op
    return source_id, series


def _staged(db: ClusterDb, source_id: int, series_id: int, check_id: str) -> dict[str, Any]:
    return {
        "check_id": check_id,
        "source_id": source_id,
        "vantage": "de",
        "slot": SLOT,
        "series_id": series_id,
        "node": "a",
        "kind": "scheduled",
        "started_at": NOW,
        "finished_at": NOW,
        "observation": {"status": "ok", "items": []},
        "staged_at": NOW,
    }


def test_slot_is_the_same_for_every_tick_within_an_interval() -> None:
    every = timedelta(minutes=30)
    start = datetime(2026, 12, 8, 2, 0, tzinfo=UTC)
    assert claims.slot_of(start, every) == claims.slot_of(start + timedelta(minutes=29), every)
    assert claims.slot_of(start + every, every) == claims.slot_of(start, every) + 1


def test_two_sessions_claiming_at_once_get_disjoint_series(db: ClusterDb) -> None:
    source_id, series = _ensure(db)
    first, second = db.sessions(), db.sessions()
    try:
        first.begin()
        second.begin()
        # The first transaction holds its rows locked while the second claims: SKIP
        # LOCKED hands the second the others instead of waiting or taking the same.
        a = claims.claim(first, source_id, "de", SLOT, "a", NOW, LEASE, 4)
        b = claims.claim(second, source_id, "de", SLOT, "b", NOW, LEASE, 4)
        first.commit()
        second.commit()
    finally:
        first.close()
        second.close()
    assert len(a) == 4
    assert len(b) == len(series) - 4
    assert set(a).isdisjoint(b)
    assert set(a) | set(b) == set(series)
    with db.sessions() as session, session.begin():
        assert claims.claim(session, source_id, "de", SLOT, "c", NOW, LEASE, 10) == []


def test_an_expired_lease_is_claimed_by_another_node_and_the_first_cannot_finish_it(
    db: ClusterDb,
) -> None:
    source_id, series = _ensure(db)
    with db.sessions() as session, session.begin():
        taken = claims.claim(session, source_id, "de", SLOT, "a", NOW, LEASE, 100)
    assert taken == sorted(series)
    later = NOW + timedelta(minutes=1)
    with db.sessions() as session, session.begin():
        assert claims.claim(session, source_id, "de", SLOT, "b", later, LEASE, 100) == []
    after_lease = NOW + LEASE + timedelta(seconds=1)
    with db.sessions() as session, session.begin():
        redone = claims.claim(session, source_id, "de", SLOT, "b", after_lease, LEASE, 100)
    assert redone == sorted(series)
    with db.sessions() as session, session.begin():
        assert (
            claims.finish_claims(session, source_id, "de", SLOT, "a", series, after_lease) == set()
        )
        assert claims.finish_claims(
            session, source_id, "de", SLOT, "b", series, after_lease
        ) == set(series)


def test_a_round_is_complete_only_when_every_claim_is_done(db: ClusterDb) -> None:
    source_id, series = _ensure(db)
    with db.sessions() as session, session.begin():
        assert not claims.slot_complete(session, source_id, "de", SLOT)
        taken = claims.claim(session, source_id, "de", SLOT, "a", NOW, LEASE, 100)
        claims.finish_claims(session, source_id, "de", SLOT, "a", taken[:-1], NOW)
        assert not claims.slot_complete(session, source_id, "de", SLOT)
        claims.finish_claims(session, source_id, "de", SLOT, "a", taken[-1:], NOW)
        assert claims.slot_complete(session, source_id, "de", SLOT)
        # A done claim is never handed out again, even after its lease.
        later = NOW + 2 * LEASE
        assert claims.claim(session, source_id, "de", SLOT, "b", later, LEASE, 100) == []
        assert not claims.slot_complete(session, source_id, "de", SLOT + 1)  # no claims
    with db.sessions() as session:
        assert claims.open_rounds(session) == [claims.OpenRound(source_id, "de", SLOT)]
    with db.sessions() as session, session.begin():
        assert claims.drop_claims(session, source_id, "de", SLOT) == len(series)
        assert claims.open_rounds(session) == []


def test_a_check_staged_twice_or_already_stored_is_kept_once(db: ClusterDb) -> None:
    source_id, series = _ensure(db)
    ids = [str(uuid.uuid4()) for _ in series]
    rows = [_staged(db, source_id, s, i) for s, i in zip(series, ids, strict=True)]
    with db.sessions() as session, session.begin():
        assert claims.stage(session, rows[:3]) == 3
    with db.sessions() as session, session.begin():
        assert claims.stage(session, rows) == len(series) - 3  # a spool forwarded again
    with db.sessions() as session, session.begin():
        staged = claims.staged_for(session, source_id, "de")
        assert sorted(s.check_id for s in staged) == sorted(ids)
        # The leader stores the first as a snapshot and deletes it from the stage...
        session.add(
            Snapshot(
                series_id=series[0],
                started_at=NOW,
                finished_at=NOW,
                status="ok",
                check_id=ids[0],
            )
        )
        assert claims.delete_staged(session, ids[:1]) == 1
    with db.sessions() as session, session.begin():
        # ...then the node forwards it once more (it crashed before marking its spool).
        assert claims.stage(session, rows[:1]) == 0
    with db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(StagedCheck)) == len(series) - 1
        assert session.scalar(select(func.count()).select_from(Snapshot)) == 1
