"""A cluster's round flow on a real PostgreSQL: nodes claim, check and stage; the leader
closes the round through ``RoundCommit`` under its fence; a node that cannot reach the
database spools its checks and forwards them later, stored once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from monitor.app import App, build
from monitor.config import parse_config
from monitor.core.clock import FakeClock
from monitor.rounds.close import Closer
from monitor.rounds.cluster import NodeRounds
from monitor.store import claims
from monitor.store import cluster as leadership
from monitor.store.cluster import StaleEpoch
from monitor.store.db import create_db_engine
from monitor.store.models import (
    Alert,
    CheckClaim,
    Round,
    Series,
    SeriesImage,
    Snapshot,
    StagedCheck,
)
from monitor.store.spool import Spool
from tests.helpers.backends import fresh_postgres
from tests.helpers.cluster import ADMIN_URL, needs_postgres

pytestmark = needs_postgres
FIX = Path(__file__).parent / "fixtures" / "sources" / "bing_images"
T0 = datetime(2026, 1, 5, 6, 0, 0, tzinfo=UTC)  # a round's start: slot boundary of 10 min
PEOPLE = 7


def config_text(url: str, vantage: str) -> str:
    people = ", ".join(f"{{name: Person {i}}}" for i in range(PEOPLE))
    return f"""
database: {{url: "{url}"}}
vantage: {vantage}
people: [{people}]
sources:
  bing: {{kind: bing_images, base_url: "http://engine.test", every: 10m, rate: 1000/1s}}
cluster: {{enabled: true, claim_lease: 30s, batch: 3}}
"""


@dataclass
class Node:
    app: App
    rounds: NodeRounds
    clock: FakeClock


OPEN: list[Node] = []


@pytest.fixture
def pg() -> Iterator[str]:
    assert ADMIN_URL
    with fresh_postgres(ADMIN_URL) as url:
        try:
            yield url
        finally:
            while OPEN:
                n = OPEN.pop()
                n.rounds.spool.close()
                n.app.engine.dispose()


def page(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=(FIX / "search-results-stripped.html").read_bytes())


def node(
    url: str, tmp_path: Path, name: str, vantage: str = "de", *, db: str | None = None
) -> Node:
    clock = FakeClock(T0 + timedelta(seconds=1))
    config = parse_config(config_text(url, vantage), "config.yaml", {})
    engine = create_db_engine(db or url)
    app = build(
        config, engine=engine, transport=httpx.MockTransport(page), channels=[], clock=clock
    )
    rounds = app.rounds(app.fetcher())
    spool = Spool(tmp_path / f"spool-{name}.sqlite")
    made = NodeRounds(rounds, app.sessions, spool, node=name, lease=timedelta(seconds=30), batch=3)
    OPEN.append(Node(app, made, clock))
    return OPEN[-1]


def count(app: App, model: type) -> int:
    with app.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def leader_epoch(app: App) -> int:
    with app.sessions() as session, session.begin():
        return leadership.take_over(session, "leader", timedelta(seconds=15))


def closer(n: Node) -> Closer:
    return Closer(
        n.rounds.rounds.commit, n.app.sessions, n.app.config, n.clock, lease=timedelta(seconds=30)
    )


def test_two_nodes_of_a_vantage_check_disjoint_series(pg: str, tmp_path: Path) -> None:
    a, b = node(pg, tmp_path, "a"), node(pg, tmp_path, "b")
    a.app.migrate()
    refs = a.app.series()
    assert len([r for r in refs if r.role == "watch"]) == PEOPLE

    async def both() -> tuple[int, int]:
        made = await asyncio.gather(a.rounds.tick("bing", refs), b.rounds.tick("bing", refs))
        return made[0], made[1]

    made_a, made_b = asyncio.run(both())
    assert made_a + made_b == len(refs)
    with a.app.sessions() as session:
        staged = session.execute(select(StagedCheck.series_id, StagedCheck.node)).all()
    assert sorted(s for s, _ in staged) == sorted(r.series_id for r in refs)  # each once
    assert {n for _, n in staged} <= {"a", "b"}


def test_leader_closes_a_complete_round_into_snapshots(pg: str, tmp_path: Path) -> None:
    a = node(pg, tmp_path, "a")
    a.app.migrate()
    refs = a.app.series()
    asyncio.run(a.rounds.tick("bing", refs))
    assert closer(a).step(leader_epoch(a.app)) == 1
    assert count(a.app, Snapshot) == len(refs)
    assert (count(a.app, StagedCheck), count(a.app, CheckClaim)) == (0, 0)
    with a.app.sessions() as session:
        rnd = session.scalars(select(Round)).one()
        ids = set(session.scalars(select(Snapshot.check_id)))
    assert rnd.vantage == "de"
    assert None not in ids and len(ids) == len(refs)


def test_a_stale_leader_closes_nothing(pg: str, tmp_path: Path) -> None:
    a = node(pg, tmp_path, "a")
    a.app.migrate()
    refs = a.app.series()
    asyncio.run(a.rounds.tick("bing", refs))
    old = leader_epoch(a.app)
    leader_epoch(a.app)  # another node took over since
    with pytest.raises(StaleEpoch):
        closer(a).step(old)
    assert (count(a.app, Snapshot), count(a.app, StagedCheck)) == (0, len(refs))


def test_round_with_a_dead_nodes_claims_waits_then_is_redone_after_the_lease(
    pg: str, tmp_path: Path
) -> None:
    a, b = node(pg, tmp_path, "a"), node(pg, tmp_path, "b")
    a.app.migrate()
    refs = a.app.series()
    source_id = refs[0].source_id
    slot = a.rounds.slot("bing", a.clock())
    with a.app.sessions() as session, session.begin():
        claims.ensure_claims(session, source_id, "de", slot, [r.series_id for r in refs])
        # "a" claims a batch and dies with it.
        dead = claims.claim(
            session, source_id, "de", slot, "a", a.clock(), timedelta(seconds=30), 3
        )
    assert len(dead) == 3
    asyncio.run(b.rounds.tick("bing", refs, slot=slot))
    epoch = leader_epoch(b.app)
    assert closer(b).step(epoch) == 0  # three claims still leased to the dead node
    b.clock.advance(timedelta(seconds=31))
    assert asyncio.run(b.rounds.work("bing", refs)) == 3  # redone after the lease
    assert closer(b).step(epoch) == 1
    assert count(b.app, Snapshot) == len(refs)


def test_unreachable_database_spools_then_forwards_once(pg: str, tmp_path: Path) -> None:
    good = node(pg, tmp_path, "a")
    good.app.migrate()
    refs = good.app.series()
    # The same node with the server gone: a port on loopback where nothing listens.
    off = node(pg, tmp_path, "a", db="postgresql+psycopg://absence:absence@127.0.0.1:9/x")
    made = asyncio.run(off.rounds.tick("bing", refs))
    assert made == len(refs)
    assert off.rounds.spool.depth() == len(refs)
    assert count(good.app, StagedCheck) == 0
    assert good.rounds.forward() == len(refs)
    assert good.rounds.spool.depth() == 0
    # A crash before the spool was marked: forwarded again, staged once.
    with good.app.sessions() as session:
        again = [dict(r._mapping) for r in session.execute(select(StagedCheck.__table__))]
    good.rounds.spool.put(again)
    good.rounds.forward()
    assert count(good.app, StagedCheck) == len(refs)
    good.clock.advance(timedelta(minutes=11))  # no claims: closed at the round's deadline
    assert closer(good).step(leader_epoch(good.app)) == 1
    assert count(good.app, Snapshot) == len(refs)
    good.rounds.spool.put(again)  # and once stored, forwarding again adds nothing
    good.rounds.forward()
    assert count(good.app, StagedCheck) == 0


def test_recheck_claims_make_a_recheck_round_of_the_current_slot(pg: str, tmp_path: Path) -> None:
    a = node(pg, tmp_path, "a")
    a.app.migrate()
    refs = a.app.series()
    asyncio.run(a.rounds.tick("bing", refs))
    epoch = leader_epoch(a.app)
    assert closer(a).step(epoch) == 1
    due = [r for r in refs if r.person == "Person 0" or r.role == "control"]
    a.clock.advance(timedelta(minutes=2))  # the same round of the source, later
    assert asyncio.run(a.rounds.tick("bing", due, "recheck")) == len(due)
    assert closer(a).step(epoch) == 1
    with a.app.sessions() as session:
        kinds = list(session.scalars(select(Round.kind).order_by(Round.id)))
        last = session.scalars(select(Round.id).order_by(Round.id.desc())).first()
        rechecked = session.scalar(
            select(func.count()).select_from(Snapshot).where(Snapshot.round_id == last)
        )
    assert kinds == ["scheduled", "recheck"]
    assert rechecked == len(due)


def test_a_leader_without_the_source_leaves_its_staged_checks(pg: str, tmp_path: Path) -> None:
    a = node(pg, tmp_path, "a")
    a.app.migrate()
    refs = a.app.series()
    asyncio.run(a.rounds.tick("bing", refs))
    other = replace(a.app.config, sources={})  # a leader whose config lacks "bing"
    lacking = Closer(
        a.rounds.rounds.commit, a.app.sessions, other, a.clock, lease=timedelta(seconds=30)
    )
    a.clock.advance(timedelta(hours=1))
    assert lacking.step(leader_epoch(a.app)) == 0
    assert count(a.app, StagedCheck) == len(refs)  # left for a leader that has the source


def test_checks_forwarded_after_later_rounds_were_judged_are_kept_late_and_not_judged(
    pg: str, tmp_path: Path
) -> None:
    good = node(pg, tmp_path, "a")
    good.app.migrate()
    refs = good.app.series()
    off = node(pg, tmp_path, "a", db="postgresql+psycopg://absence:absence@127.0.0.1:9/x")
    # Round S, made while the database was out of reach: into the spool.
    assert asyncio.run(off.rounds.tick("bing", refs)) == len(refs)
    # Round S+1, online: closed and judged before the spool comes back.
    good.clock.advance(timedelta(minutes=10))
    asyncio.run(good.rounds.tick("bing", refs))
    epoch = leader_epoch(good.app)
    assert closer(good).step(epoch) == 1
    before = states_and_sightings(good.app)
    assert good.rounds.forward() == len(refs)
    good.clock.advance(timedelta(seconds=31))  # round S's deadline passed
    assert closer(good).step(epoch) == 1
    # Kept: every check made is a snapshot, the late ones in a late round of their time.
    assert count(good.app, Snapshot) == 2 * len(refs)
    assert count(good.app, StagedCheck) == 0
    with good.app.sessions() as session:
        rounds = session.execute(select(Round.kind, Round.started_at).order_by(Round.id)).all()
        late = session.execute(select(Snapshot.late, Snapshot.finished_at)).all()
    assert [k for k, _ in rounds] == ["scheduled", "late"]
    assert rounds[1][1] < rounds[0][1]  # the late round has its own, earlier time
    assert sorted(str(flag) for flag, _ in late) == ["None"] * len(refs) + ["True"] * len(refs)
    # Not judged: no detector state, sighting or alert moved.
    assert states_and_sightings(good.app) == before
    assert count(good.app, Alert) == 0


def states_and_sightings(app: App) -> tuple[list[Any], list[Any]]:
    with app.sessions() as session:
        states = session.execute(select(Series.id, Series.detector_state).order_by(Series.id))
        seen = session.execute(select(SeriesImage.__table__).order_by("series_id", "image_id"))
        return [tuple(r) for r in states], [tuple(r) for r in seen]
