"""When rounds run: restart-safe first runs, spread checks, due re-checks, daily retention."""

from __future__ import annotations

import gzip
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.app import build
from monitor.config import parse_config
from monitor.core.clock import FakeClock
from monitor.daemon.schedule import CATCH_UP_WINDOW, SPREAD_CAP, first_run, start_offsets
from monitor.daemon.service import Daemon
from monitor.store.models import RawResponse, Round, Snapshot, SourceRow

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
SIX_H = timedelta(hours=6)


def test_first_run_after_a_recent_round_waits_for_its_period() -> None:
    last = NOW - timedelta(hours=2)
    assert first_run(last, SIX_H, NOW, random.Random(1)) == last + SIX_H


def test_first_run_after_an_outage_is_once_and_soon_not_a_catch_up_storm() -> None:
    last = NOW - timedelta(days=3)  # twelve periods missed
    starts = {first_run(last, SIX_H, NOW, random.Random(seed)) for seed in range(50)}
    assert all(NOW <= s <= NOW + CATCH_UP_WINDOW for s in starts)
    assert len(starts) > 40  # sources restarting together are spread, not synchronised


def test_first_run_of_a_new_source_is_soon() -> None:
    start = first_run(None, SIX_H, NOW, random.Random(2))
    assert NOW <= start <= NOW + CATCH_UP_WINDOW


def test_checks_of_a_round_are_spread_over_a_slice_of_the_interval() -> None:
    offsets = start_offsets(1000, SIX_H, random.Random(3))
    assert len(offsets) == 1000
    assert offsets == sorted(offsets)
    assert offsets[0] >= 0 and offsets[-1] <= SPREAD_CAP.total_seconds()
    # no second holds more than a handful of starts
    per_second: dict[int, int] = {}
    for o in offsets:
        per_second[int(o)] = per_second.get(int(o), 0) + 1
    assert max(per_second.values()) <= 3


def test_a_short_interval_spreads_over_a_tenth_of_it() -> None:
    offsets = start_offsets(10, timedelta(seconds=30), random.Random(4))
    assert offsets[-1] <= 3.0


async def test_prune_step_removes_raw_responses_older_than_the_retention(tmp_path: Path) -> None:
    clock = FakeClock(NOW)
    config = parse_config(
        f"database: {{url: 'sqlite:///{tmp_path / 'm.db'}'}}\npeople: [{{name: X}}]\n"
        "sources: {bing: {kind: bing_images}}\nevidence: {raw_retention: 30d}\n",
        "config.yaml",
        {},
    )
    app = build(config, channels=[], clock=clock)
    app.migrate()
    refs = app.series()
    with app.sessions() as session, session.begin():
        src = session.query(SourceRow).one()
        rnd = Round(source_id=src.id, started_at=NOW, finished_at=NOW)
        session.add(rnd)
        session.flush()
        for age in (40, 10):
            at = NOW - timedelta(days=age)
            snap = Snapshot(
                series_id=refs[0].series_id,
                round_id=rnd.id,
                started_at=at,
                finished_at=at,
                status="ok",
                image_count=1,
                pages=1,
                elapsed_ms=1,
            )
            session.add(snap)
            session.flush()
            session.add(
                RawResponse(
                    snapshot_id=snap.id,
                    created_at=at,
                    sha256="0" * 64,
                    size=2,
                    body_gz=gzip.compress(b"{}"),
                    reason="healthy",
                )
            )
    daemon = Daemon(app)
    assert await daemon.prune_step() is True
    with app.sessions() as session:
        left = [r.created_at for r in session.query(RawResponse)]
    assert left == [NOW - timedelta(days=10)]
    assert await daemon.prune_step() is False  # nothing more to remove
