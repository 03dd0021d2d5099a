"""Retention never eats an alert's evidence: held responses and thumbnails outlive
``raw_retention`` until ``evidence release`` (or ``evidence.alert_retention``)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from monitor.app import App, build
from monitor.cli.main import cli
from monitor.config import parse_config
from monitor.core.clock import FakeClock
from monitor.core.observation import Observation, Status
from monitor.store import catalog
from monitor.store.evidence import RawBody, keep_raw
from monitor.store.models import Image, RawResponse, Thumbnail
from monitor.store.outbox import enqueue
from monitor.store.retention import hold
from monitor.store.snapshots import record_snapshot
from monitor.store.thumbnails import alert_thumbnails
from tests.helpers.report import keep_thumbnail
from tests.helpers.thumbnails import NOW, item, photo


def config_text(tmp_path: Path, extra: str = "") -> str:
    return f"""\
database:
  url: sqlite:///{tmp_path / "m.db"}
people:
  - name: Chen Yixin
sources:
  baidu:
    kind: baidu_images
evidence:
  raw_retention: 1s
{extra}"""


def make(tmp_path: Path, extra: str = "") -> tuple[App, FakeClock]:
    clock = FakeClock(NOW)
    app = build(
        parse_config(config_text(tmp_path, extra), "config.yaml", {}), channels=[], clock=clock
    )
    app.migrate()
    return app, clock


def seed_alert(app: App) -> tuple[int, dict[str, int]]:
    """Four checks of one series: two kept bodies held by a drop alert, two not; images 1
    (held, vanished) and 2 (not held) gone from every current set, each with a kept copy."""
    with app.sessions() as session, session.begin():
        [ref] = [r for r in catalog.sync(session, app.config) if r.role == "watch"]
        snaps = {}
        for name, items in (
            ("old", [item(1), item(2)]),
            ("pre", [item(1), item(2)]),
            ("low", [item(3)]),
            ("noise", [item(3)]),
        ):
            obs = Observation(Status.OK, items=items, raw=f"answer {name}".encode())
            snap = record_snapshot(
                session, series_id=ref.series_id, observation=obs, started_at=NOW, finished_at=NOW
            )
            keep_raw(session, snap, RawBody.of(obs), "suspect")
            snaps[name] = snap.id
        alert = enqueue(session, payload={"event": "drop"}, channels=[], now=NOW)
        image_ids = {i.image_url: i.id for i in session.scalars(select(Image))}
        hold(
            session,
            alert.id,
            {snaps["pre"]: "pre_drop", snaps["low"]: "confirming"},
            [image_ids[item(1).image_url]],
            NOW,
        )
    keep_thumbnail(app, "/1.jpg", photo(1))
    keep_thumbnail(app, "/2.jpg", photo(2))
    return alert.id, snaps


def kept(app: App) -> tuple[dict[int, str], set[str]]:
    with app.sessions() as session:
        raws = {r.snapshot_id: r.reason for r in session.scalars(select(RawResponse))}
        thumbs = {t.path for t in session.scalars(select(Thumbnail))}
    return raws, thumbs


def test_prune_keeps_what_an_alert_holds_and_removes_the_rest(tmp_path: Path) -> None:
    app, clock = make(tmp_path)
    alert_id, snaps = seed_alert(app)
    clock.advance(timedelta(days=400))
    pruned = app.prune()
    raws, thumbs = kept(app)
    assert raws == {snaps["pre"]: "pre_drop", snaps["low"]: "confirming"}
    assert pruned.removed == 2 and pruned.held == 2 and pruned.thumbnails == 1
    assert len(thumbs) == 1
    # The unheld thumbnail's file is gone with its row; the held one is still on disk.
    assert app.thumbnail_dir is not None
    files = {p.relative_to(app.thumbnail_dir).as_posix() for p in app.thumbnail_dir.rglob("*.png")}
    assert files == thumbs
    with app.sessions() as session:
        assert list(alert_thumbnails(session, app.thumbnail_dir, alert_id)) == [item(1).image_url]


def test_released_evidence_goes_at_the_next_prune(tmp_path: Path) -> None:
    app, clock = make(tmp_path)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(config_text(tmp_path), encoding="utf-8")
    alert_id, _ = seed_alert(app)
    unknown = CliRunner().invoke(cli, ["--config", str(cfg), "evidence", "release", "999"])
    assert unknown.exit_code != 0 and "no alert #999" in unknown.output
    done = CliRunner().invoke(cli, ["--config", str(cfg), "evidence", "release", str(alert_id)])
    assert done.exit_code == 0, done.output
    assert f"alert #{alert_id}: released 3 hold(s)" in done.output
    clock.advance(timedelta(days=1))
    app.prune()
    assert kept(app) == ({}, set())


def test_alert_retention_ends_holds_after_its_duration(tmp_path: Path) -> None:
    app, clock = make(tmp_path, "  alert_retention: 90d\n")
    seed_alert(app)
    clock.advance(timedelta(days=89))
    app.prune()
    assert len(kept(app)[0]) == 2
    clock.advance(timedelta(days=2))
    app.prune()
    assert kept(app) == ({}, set())


def test_prune_dry_run_removes_nothing(tmp_path: Path) -> None:
    app, clock = make(tmp_path)
    seed_alert(app)
    clock.advance(timedelta(days=2))
    pruned = app.prune(dry_run=True)
    assert pruned.removed == 2 and pruned.thumbnails == 1
    assert "would remove 2 raw response(s) and 1 thumbnail(s)" in str(pruned)
    assert len(kept(app)[0]) == 4
