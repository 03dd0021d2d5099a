"""Retention as the real daemon does it: its scheduled job (not a test calling the step)
prunes expired raw bodies and keeps those an alert holds."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from monitor.app import build
from monitor.config import load_config
from monitor.core.observation import Observation, Status
from monitor.store import catalog
from monitor.store.evidence import RawBody, keep_raw
from monitor.store.outbox import enqueue
from monitor.store.retention import hold
from monitor.store.snapshots import record_snapshot
from monitor.testing import LocalServer, Reply
from tests.helpers.thumbnails import NOW, item

FIX = Path(__file__).parent / "fixtures" / "sources"
pytestmark = pytest.mark.e2e


def write_config(tmp: Path, url: str) -> Path:
    cfg = tmp / "config.yaml"
    cfg.write_text(
        f"""
database: {{url: "sqlite:///{tmp / "m.db"}"}}
people: [{{name: Chen Yixin}}]
sources:
  bing: {{kind: bing_images, base_url: "{url}", every: 1h, rate: 100/1s}}
evidence: {{raw_retention: 1s, prune_every: 1s, keep_thumbnails: false}}
""",
        encoding="utf-8",
    )
    return cfg


def seed(cfg: Path) -> dict[str, int]:
    """Four kept bodies of one series, stored long ago (``NOW``, 2025): a drop alert holds
    ``pre`` and ``low``; ``old`` and ``noise`` are nobody's evidence."""
    app = build(load_config(str(cfg)), channels=[])
    app.migrate()
    with app.sessions() as session, session.begin():
        [ref] = [r for r in catalog.sync(session, app.config) if r.role == "watch"]
        snaps = {}
        for name, n in (("old", 1), ("pre", 1), ("low", 2), ("noise", 2)):
            obs = Observation(Status.OK, items=[item(n)], raw=f"answer {name}".encode())
            snap = record_snapshot(
                session, series_id=ref.series_id, observation=obs, started_at=NOW, finished_at=NOW
            )
            keep_raw(session, snap, RawBody.of(obs), "suspect")
            snaps[name] = snap.id
        alert = enqueue(session, payload={"event": "drop"}, channels=[], now=NOW)
        hold(session, alert.id, {snaps["pre"]: "pre_drop", snaps["low"]: "confirming"}, [], NOW)
    app.engine.dispose()
    return snaps


def kept(db: Path, snapshot_ids: list[int]) -> set[int]:
    marks = ",".join("?" * len(snapshot_ids))
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            f"select snapshot_id from raw_responses where snapshot_id in ({marks})", snapshot_ids
        ).fetchall()
    return {sid for (sid,) in rows}


def test_the_daemons_retention_job_prunes_expired_bodies_and_keeps_held_evidence(
    tmp_path: Path,
) -> None:
    page = (FIX / "bing_images/search-results-stripped.html").read_bytes()
    db, log = tmp_path / "m.db", tmp_path / "daemon.log"
    with LocalServer(lambda req: Reply(200, page)) as server, log.open("wb") as out:
        cfg = write_config(tmp_path, server.url)
        snaps = seed(cfg)
        seeded = list(snaps.values())
        assert kept(db, seeded) == set(seeded)
        cmd = [sys.executable, "-m", "monitor", "--config", str(cfg), "run"]
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 30
            while kept(db, seeded) == set(seeded) and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=30)
    text = log.read_text(encoding="utf-8")
    assert code == 0, text
    assert kept(db, seeded) == {snaps["pre"], snaps["low"]}
    # The scheduled job did it, and said so: 2 expired, 2 held.
    assert "retention: removed 2 raw response(s)" in text
    assert "2 kept as an alert's evidence" in text
