"""A cluster node's /healthz shows its spool depth, and stays 200 (degraded) while it
cannot read its database: it keeps measuring into the spool, a restart would not help."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.app import App, build
from monitor.cli.main import cli
from monitor.config import parse_config
from monitor.core.clock import FakeClock
from monitor.core.metrics import Metrics
from monitor.daemon.server import StatusServer, health
from monitor.store.cluster import NodeIdentity, beat, register
from monitor.store.models import Heartbeat
from monitor.store.spool import Spool
from tests.helpers.cluster import ADMIN_URL, cluster_db

NOW = datetime(2026, 12, 8, 2, 0, tzinfo=UTC)
WATCH = "people: [{name: Dong Jingwei}]\nsources: {bing: {kind: bing_images}}\n"


def _app(url: str) -> App:
    config = parse_config(f"database: {{url: '{url}'}}\n{WATCH}", "config.yaml", {})
    return build(config, channels=[], clock=FakeClock(NOW))


@pytest.fixture
def app(tmp_path: Path) -> App:
    app = _app(f"sqlite:///{tmp_path / 'm.db'}")
    app.migrate()
    with app.sessions() as session, session.begin():
        session.add(Heartbeat(instance="t", pid=1, host="h", started_at=NOW, beat_at=NOW))
    return app


def test_healthz_shows_the_spool_depth_and_is_degraded_while_checks_wait(app: App) -> None:
    depth = [0]
    server = StatusServer(app, Metrics(), "127.0.0.1", 0, spool_depth=lambda: depth[0])
    try:
        status, _, body = server.route("/healthz", None)
        assert (status, json.loads(body)["status"], json.loads(body)["spool_depth"]) == (
            200,
            "ok",
            0,
        )
        depth[0] = 12
        status, _, body = server.route("/healthz", None)
    finally:
        server.httpd.server_close()
    facts = json.loads(body)
    assert (status, facts["status"], facts["spool_depth"]) == (200, "degraded", 12)
    assert facts["warnings"] == ["12 check(s) spooled locally, waiting to be forwarded"]


def test_a_single_daemon_s_healthz_has_no_spool_depth(app: App) -> None:
    ok, facts = health(app)
    assert ok and "spool_depth" not in facts


def test_a_node_that_cannot_read_its_database_is_degraded_not_unhealthy() -> None:
    app = _app("postgresql+psycopg://absence@127.0.0.1:9/none")  # nothing listens there
    try:
        ok, facts = health(app, spool_depth=3)
    finally:
        app.engine.dispose()
    assert ok
    assert (facts["status"], facts["spool_depth"]) == ("degraded", 3)
    assert facts["warnings"][0].startswith("the database cannot be read (")
    assert facts["warnings"][0].endswith("): checks go to the local spool")


def test_the_health_command_of_a_node_cut_off_from_its_database_reads_its_spool(
    tmp_path: Path,
) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        "database: {url: 'postgresql+psycopg://absence@127.0.0.1:9/none'}\n"
        + WATCH
        + "cluster: {enabled: true, node: de-1}\n",
        encoding="utf-8",
    )
    spool = Spool(tmp_path / "spool-de-1.sqlite")  # the default: next to the config
    row = {
        "check_id": "c1",
        "source_id": 1,
        "vantage": "de",
        "slot": 1,
        "series_id": 1,
        "node": "de-1",
        "kind": "scheduled",
        "started_at": NOW,
        "finished_at": NOW,
        "observation": {"status": "ok"},
        "staged_at": NOW,
    }
    spool.put([row, {**row, "check_id": "c2"}])
    spool.close()
    result = CliRunner().invoke(cli, ["--config", str(cfg), "health"])
    assert result.exit_code == 0, result.output
    facts = json.loads(result.output)
    assert (facts["status"], facts["spool_depth"]) == ("degraded", 2)


@pytest.mark.postgres
@pytest.mark.skipif(not ADMIN_URL, reason="set ABSENCE_TEST_POSTGRES_URL to run")
def test_a_node_s_health_is_its_own_heartbeat_not_another_node_s() -> None:
    with cluster_db(people=1) as db:
        config = parse_config(
            f"database: {{url: '{db.url}'}}\n{WATCH}cluster: {{enabled: true, node: de-1}}\n",
            "config.yaml",
            {},
        )
        clock = FakeClock(NOW)
        app = build(config, channels=[], clock=clock)
        with app.sessions() as session, session.begin():
            me = NodeIdentity("de-1", "de", "1", "h", 1)
            register(session, me, NOW - timedelta(minutes=5), timedelta(seconds=45))
            # Another node of the cluster beats on time.
            session.add(Heartbeat(instance="other", pid=2, host="h2", started_at=NOW, beat_at=NOW))
        try:
            ok, facts = health(app, spool_depth=0)
            assert not ok
            assert facts["problems"] == ["heartbeat is old"]
            with app.sessions() as session, session.begin():
                beat(session, "de-1", NOW, role="probe", spool_depth=0)
            ok, facts = health(app, spool_depth=0)
            assert ok and facts["status"] == "ok"
        finally:
            app.engine.dispose()
