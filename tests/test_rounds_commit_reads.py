"""A round's reads happen before its write transaction (``rounds.prepare``); the write
still stores what a round written all at once would: another writer's round of the same
source stored in between is read again, and a transaction run again after a collision
steps the detector once, not twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from monitor.app import App, build
from monitor.config import parse_config
from monitor.core.clock import FakeClock
from monitor.core.observation import ImageItem, Observation, Status
from monitor.rounds.commit import Checked, RoundCommit
from monitor.rounds.prepare import RoundSettings, read_round
from monitor.store import catalog
from monitor.store import rounds as stored
from monitor.store.catalog import SeriesRef
from monitor.store.models import Series, SeriesImage
from monitor.store.snapshot_batch import NewSnapshot

START = datetime(2021, 6, 1, tzinfo=UTC)


def make(tmp_path: Path) -> tuple[App, RoundCommit, SeriesRef]:
    config = parse_config(
        f"database: {{url: 'sqlite:///{tmp_path / 'm.db'}'}}\n"
        "people: [{name: Chen Yixin}]\nsources: {baidu: {kind: baidu_images}}\n",
        "config.yaml",
        {},
    )
    app = build(config, channels=[], clock=FakeClock(START))
    app.migrate()
    with app.sessions() as session, session.begin():
        [ref] = [r for r in catalog.sync(session, app.config) if r.role == "watch"]
    return app, RoundCommit(app.sessions, app.config, {"baidu": "chinese"}, channels=[]), ref


def checked(ref: SeriesRef, n: int, urls: range) -> Checked:
    at = START + n * timedelta(hours=6)
    items = [ImageItem(f"https://img.example.cn/{i}.jpg") for i in urls]
    return Checked(ref, Observation(Status.OK, items=items), at, at)


def stored_points(app: App, ref: SeriesRef) -> int:
    with app.sessions() as session:
        state = session.scalar(select(Series.detector_state).where(Series.id == ref.series_id))
    assert state is not None
    return len(state["window"])


def open_images(app: App, ref: SeriesRef) -> set[int]:
    with app.sessions() as session:
        return set(
            session.scalars(
                select(SeriesImage.image_id).where(
                    SeriesImage.series_id == ref.series_id, SeriesImage.seen_open.is_(True)
                )
            )
        )


def test_a_round_stored_between_the_reads_and_the_write_is_read_again(tmp_path: Path) -> None:
    app, commit, ref = make(tmp_path)
    commit("baidu", [checked(ref, 0, range(0, 5))], START, "scheduled")
    late = checked(ref, 2, range(3, 8))
    settings = RoundSettings(app.config.detection_for("baidu"), keep_raw=True)
    news = [NewSnapshot(ref.series_id, late.observation, late.started_at, late.finished_at)]
    with app.sessions() as session:
        stale = read_round(session, "baidu", news, settings)  # before the other writer
    commit("baidu", [checked(ref, 1, range(0, 4))], START, "manual")  # the other writer
    commit._write("baidu", [late], stale, late.started_at, late.finished_at, "scheduled")
    # Three points, not two: the state the other writer stored was stepped, not the stale one.
    assert stored_points(app, ref) == 3
    # Images 0..2 left with the other writer's set (0..3): 3 too is gone, 3..7 are open.
    with app.sessions() as session:
        ids = dict(session.execute(select(SeriesImage.image_id, SeriesImage.seen_open)).all())
    assert sum(ids.values()) == 5 and len(open_images(app, ref)) == 5


def test_a_transaction_run_again_after_a_collision_steps_the_detector_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, commit, ref = make(tmp_path)
    commit("baidu", [checked(ref, 0, range(0, 5))], START, "scheduled")
    save_health, calls = stored.save_health, []

    def collide_once(*args: Any, **kwargs: Any) -> None:
        calls.append(1)
        if len(calls) == 1:  # after the detector's step, before the commit
            raise OperationalError("UPDATE sources", {}, Exception("database is locked"))
        save_health(*args, **kwargs)

    monkeypatch.setattr(stored, "save_health", collide_once)
    rows = commit("baidu", [checked(ref, 1, range(0, 5))], START, "scheduled")
    assert len(calls) == 2 and rows[0].status == "ok"
    assert stored_points(app, ref) == 2  # not 3: the rolled-back step was not kept
