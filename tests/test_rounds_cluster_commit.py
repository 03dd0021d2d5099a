"""``RoundCommit`` as a cluster's leader uses it: a fence first in the transaction (a stale
leader writes nothing), its staged rows settled in the same transaction, and the round's
vantage taken from the series checked, not from the leader's own ``vantage``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.app import App, build
from monitor.config import parse_config
from monitor.core.clock import FakeClock
from monitor.core.observation import ImageItem, Observation, Status
from monitor.rounds.commit import Checked, RoundCommit
from monitor.store import catalog
from monitor.store.catalog import SeriesRef
from monitor.store.models import Alert, Round, Snapshot

START = datetime(2021, 6, 1, tzinfo=UTC)
CONFIG = """
database: {{url: 'sqlite:///{db}'}}
vantage: {vantage}
people: [{{name: Chen Yixin}}]
sources: {{baidu: {{kind: baidu_images}}}}
detection: {{min_history: 4, tiny_baseline: 2, tiny_min_baseline: 1}}
"""


class Stale(Exception):
    """What the fence raises for a leader whose epoch moved on."""


def app_at(tmp_path: Path, vantage: str) -> App:
    text = CONFIG.format(db=tmp_path / "m.db", vantage=vantage)
    app = build(parse_config(text, "config.yaml", {}), channels=[], clock=FakeClock(START))
    app.migrate()
    return app


def watch_ref(app: App) -> SeriesRef:
    with app.sessions() as session, session.begin():
        [ref] = [r for r in catalog.sync(session, app.config) if r.role == "watch"]
    return ref


def checked(ref: SeriesRef, n: int, count: int) -> Checked:
    at = START + n * timedelta(hours=6)
    items = [ImageItem(f"https://img.example.cn/{i}.jpg") for i in range(count)]
    status = Status.OK if count else Status.NO_RESULTS
    return Checked(ref, Observation(status, items=items), at, at)


def count(app: App, model: type) -> int:
    with app.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_a_fence_that_raises_writes_nothing_of_the_round(tmp_path: Path) -> None:
    app = app_at(tmp_path, "default")
    ref = watch_ref(app)
    commit = RoundCommit(app.sessions, app.config, {"baidu": "chinese"}, channels=[])

    def fence(session: Session) -> None:
        raise Stale("epoch 3 is not the leader's epoch 4")

    with pytest.raises(Stale):
        commit("baidu", [checked(ref, 0, 5)], START, "scheduled", fence=fence)
    assert (count(app, Round), count(app, Snapshot)) == (0, 0)


def test_settle_runs_last_inside_the_round_transaction(tmp_path: Path) -> None:
    app = app_at(tmp_path, "default")
    ref = watch_ref(app)
    commit = RoundCommit(app.sessions, app.config, {"baidu": "chinese"}, channels=[])
    seen: list[int] = []

    def settle(session: Session) -> None:
        seen.append(int(session.scalar(select(func.count()).select_from(Snapshot)) or 0))
        raise Stale("the staged rows could not be deleted")

    with pytest.raises(Stale):
        commit("baidu", [checked(ref, 0, 5)], START, "scheduled", settle=settle)
    assert seen == [1]  # it saw the round's snapshot, in the transaction ...
    assert count(app, Snapshot) == 0  # ... which its failure rolled back whole


def test_alert_of_another_vantage_names_the_series_vantage(tmp_path: Path) -> None:
    probe = app_at(tmp_path, "cn-beijing")
    ref = watch_ref(probe)  # the probe node's series; the leader sits elsewhere
    leader = app_at(tmp_path, "de")
    commit = RoundCommit(leader.sessions, leader.config, {"baidu": "chinese"}, channels=[])
    n = 0
    for n in range(8):
        commit("baidu", [checked(ref, n, 30)], START, "scheduled")
    while count(leader, Alert) == 0 and n < 20:
        n += 1
        commit("baidu", [checked(ref, n, 0)], START, "scheduled")
    with leader.sessions() as session:
        payload = session.scalars(select(Alert.payload)).one()
    assert payload["event"] == "drop"
    assert payload["vantage"] == "cn-beijing"


def test_source_health_is_kept_per_vantage(tmp_path: Path) -> None:
    cn_ref = watch_ref(app_at(tmp_path, "cn-beijing"))
    leader = app_at(tmp_path, "de")
    de_ref = watch_ref(leader)
    commit = RoundCommit(leader.sessions, leader.config, {"baidu": "chinese"}, channels=[])

    def events(name: str) -> int:
        with leader.sessions() as session:
            q = select(func.count()).select_from(Alert).where(Alert.event == name)
            return int(session.scalar(q) or 0)

    n = 0
    while events("source_unhealthy") == 0 and n < 20:  # blocked at cn-beijing only
        at = START + n * timedelta(hours=6)
        blocked = Observation(Status.BLOCKED, reason="captcha")
        commit("baidu", [Checked(cn_ref, blocked, at, at)], START, "scheduled")
        n += 1
    assert events("source_unhealthy") == 1
    for k in range(n, n + 3):  # de answers: no recovery of cn-beijing's outage from there
        commit("baidu", [checked(de_ref, k, 30)], START, "scheduled")
    assert events("source_recovered") == 0
    commit("baidu", [checked(cn_ref, n + 3, 30)], START, "scheduled")
    assert events("source_recovered") == 1
