"""``absence-monitor nodes``: one line per node with its vantage, role, state, last
heartbeat, spool depth and version."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli.main import cli
from monitor.cli.nodes import node_lines
from monitor.store import cluster
from monitor.store.cluster import NodeIdentity
from tests.helpers.cluster import ADMIN_URL, cluster_db

NOW = datetime(2026, 12, 8, 2, 0, tzinfo=UTC)
LIVE = timedelta(seconds=45)
WATCH = "people: [{name: Dong Jingwei}]\nsources: {bing: {kind: bing_images}}\n"


def test_a_node_is_running_stopped_or_silent_and_only_a_running_leader_leads() -> None:
    rows = [
        ("a", "de", "h1", NOW - timedelta(seconds=10), False, 0, "1.0"),
        ("b", "de", "h2", NOW - timedelta(seconds=50), False, 4, "1.0"),
        ("c", "hk", "h3", NOW - timedelta(seconds=5), True, 0, "1.0"),
    ]
    lines = node_lines(rows, "b", NOW, LIVE)
    assert [(n.name, n.state, n.role, n.age_s) for n in lines] == [
        ("a", "running", "probe", 10),
        ("b", "silent", "probe", 50),  # its lease may still be on the row; it is not leading
        ("c", "stopped", "probe", 5),
    ]
    assert node_lines(rows[:1], "a", NOW, LIVE)[0].role == "leader"


def test_nodes_on_a_single_daemon_database_says_there_is_no_cluster(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(WATCH, encoding="utf-8")
    db = f"sqlite:///{tmp_path / 'm.db'}"
    result = CliRunner().invoke(cli, ["--config", str(cfg), "--database", db, "nodes"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("no nodes: this database has no cluster")


@pytest.mark.parametrize("fmt", ["table", "json"])
@pytest.mark.postgres
@pytest.mark.skipif(not ADMIN_URL, reason="set ABSENCE_TEST_POSTGRES_URL to run")
def test_nodes_lists_each_node_with_its_role_and_spool_depth(tmp_path: Path, fmt: str) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(WATCH, encoding="utf-8")
    with cluster_db(people=1) as db:
        now = datetime.now(UTC)  # the command reads the wall clock
        with db.sessions() as session, session.begin():
            for name, vantage in (("probe-1", "de"), ("probe-2", "cn-beijing")):
                me = NodeIdentity(name, vantage, "1.2.3", "host", 1)
                cluster.register(session, me, now, LIVE, pid_alive=lambda pid: True)
            cluster.take_over(session, "probe-2", timedelta(seconds=15))
            cluster.beat(session, "probe-2", now, role="leader", spool_depth=0)
            cluster.beat(session, "probe-1", now, role="probe", spool_depth=7)
        result = CliRunner().invoke(
            cli, ["--config", str(cfg), "--database", db.url, "nodes", "--format", fmt]
        )
    assert result.exit_code == 0, result.output
    if fmt == "json":
        got = [
            (n["name"], n["vantage"], n["role"], n["spool_depth"])
            for n in json.loads(result.output)
        ]
        assert got == [("probe-2", "cn-beijing", "leader", 0), ("probe-1", "de", "probe", 7)]
        return
    header, *lines = result.output.splitlines()
    assert header.split() == [
        "NODE",
        "VANTAGE",
        "ROLE",
        "STATE",
        "LAST",
        "HEARTBEAT",
        "SPOOL",
        "VERSION",
    ]
    assert [line.split()[:4] for line in lines] == [
        ["probe-2", "cn-beijing", "leader", "running"],
        ["probe-1", "de", "probe", "running"],
    ]
    assert lines[1].split()[-2:] == ["7", "1.2.3"]
