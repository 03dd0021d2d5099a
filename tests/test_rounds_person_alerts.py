"""The daemon's path to person alerts (``RoundCommit`` -> ``rounds.alerting``): a person's
terms dropping in different rounds make one drop, and the person recovers with the last of
them; the later term's evidence is held by the person's alert. Real SQLite, real detector."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from monitor.app import App, build
from monitor.config import parse_config
from monitor.core.clock import FakeClock
from monitor.core.observation import ImageItem, Observation, Status
from monitor.rounds.commit import Checked, RoundCommit
from monitor.store import catalog
from monitor.store.models import Alert, EvidenceHold

START = datetime(2021, 6, 1, tzinfo=UTC)


def make(tmp_path: Path) -> App:
    config = parse_config(
        f"database: {{url: 'sqlite:///{tmp_path / 'm.db'}'}}\n"
        "people:\n  - {name: Dong Jingwei, aliases: [董经纬]}\n  - {name: Chen Yixin}\n"
        "sources: {baidu: {kind: baidu_images}}\n",
        "config.yaml",
        {},
    )
    app = build(config, channels=[], clock=FakeClock(START))
    app.migrate()
    return app


def images(term: str, n: int) -> list[ImageItem]:
    return [ImageItem(f"https://img.example.cn/{term.encode().hex()}/{i}.jpg") for i in range(n)]


def test_terms_dropping_in_turn_make_one_drop_and_one_recovery(tmp_path: Path) -> None:
    app = make(tmp_path)
    with app.sessions() as session, session.begin():
        refs = {r.term: r for r in catalog.sync(session, app.config) if r.role == "watch"}
    commit = RoundCommit(app.sessions, app.config, {"baidu": "chinese"}, channels=["email"])
    # Counts per round for (Dong Jingwei, 董经纬); Chen Yixin stays at 30 throughout.
    plan = [(30, 30)] * 10 + [(3, 30)] * 2 + [(3, 3)] * 3 + [(30, 3)] * 2 + [(30, 30)] * 2
    kinds = []
    for n, (latin, chinese) in enumerate(plan):
        at = START + n * timedelta(hours=6)
        counts = {"Dong Jingwei": latin, "董经纬": chinese, "Chen Yixin": 30}
        checked = [
            Checked(ref, Observation(Status.OK, items=images(term, counts[term])), at, at)
            for term, ref in refs.items()
        ]
        commit("baidu", checked, at, "scheduled")
        with app.sessions() as session:
            kinds.append([a.event for a in session.scalars(select(Alert).order_by(Alert.id))])
    with app.sessions() as session:
        alerts = list(session.scalars(select(Alert).order_by(Alert.id)))
        holds = list(session.scalars(select(EvidenceHold)))
    assert [a.event for a in alerts] == ["drop", "recovered"]
    drop, recovered = (a.payload for a in alerts)
    assert drop["person"] == recovered["person"] == "Dong Jingwei"
    assert drop["term"] == "Dong Jingwei"  # the first to drop; 董经纬 was normal then
    assert {t["term"]: t["state"] for t in drop["terms"]} == {
        "Dong Jingwei": "dropped",
        "董经纬": "normal",
    }
    assert recovered["term"] == "董经纬"  # the person is back when their last term is
    # The drop of 董经纬 two rounds later raised nothing new: its confirming checks are
    # held by the person's drop alert (with the pre-drop answer of both terms).
    held_by_drop = [h for h in holds if h.alert_id == alerts[0].id and h.snapshot_id]
    assert len({h.snapshot_id for h in held_by_drop if h.role == "confirming"}) == 4
    assert kinds.index(["drop"]) == 11 and kinds.index(["drop", "recovered"]) == 18
