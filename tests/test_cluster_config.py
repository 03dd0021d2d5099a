"""The ``cluster:`` section: off by default, its defaults, and the one-line errors."""

from __future__ import annotations

import socket
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli.main import cli
from monitor.config import parse_config
from monitor.config.summary import config_summary
from monitor.core.errors import ConfigError

BASE = "people: [{name: Dong Jingwei}]\nsources: {bing: {kind: bing_images}}\n"
PG = "database: {url: 'postgresql+psycopg://u@127.0.0.1/m'}\n"


def test_cluster_mode_is_off_by_default_with_the_designed_defaults() -> None:
    cluster = parse_config(BASE, "config.yaml", {}).cluster
    assert not cluster.enabled
    assert cluster.node == socket.gethostname().split(".")[0]
    assert (cluster.claim_lease, cluster.leader_lease, cluster.batch) == (
        timedelta(minutes=2),
        timedelta(seconds=15),
        50,
    )


def test_the_spool_defaults_to_a_file_named_after_the_node_next_to_the_config(
    tmp_path: Path,
) -> None:
    config_path = str(tmp_path / "config.yaml")
    text = PG + BASE + "cluster: {enabled: true, node: de-1, claim_lease: 90s}\n"
    config = parse_config(text, config_path, {})
    assert config.cluster.enabled
    assert config.cluster.claim_lease == timedelta(seconds=90)
    assert config.cluster.spool_path(config_path) == tmp_path / "spool-de-1.sqlite"
    given = parse_config(text.replace("90s", "90s, spool: /var/x.sqlite"), config_path, {})
    assert given.cluster.spool_path(config_path) == Path("/var/x.sqlite")


def test_cluster_mode_on_sqlite_is_a_one_line_error_naming_the_key() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(BASE + "cluster:\n  enabled: true\n", "config.yaml", {})
    assert str(err.value) == (
        "config.yaml:4: cluster.enabled: cluster mode needs a PostgreSQL database.url, "
        "not a SQLite file (one machine's)"
    )


@pytest.mark.parametrize(
    ("setting", "key"),
    [
        ("node: 'a b'", "cluster.node"),
        ("leader_lease: 1s", "cluster.leader_lease"),
        ("batch: 0", "cluster.batch"),
        ("claim_lease: 0s", "cluster.claim_lease"),
        ("nodes: 2", "cluster.nodes"),
    ],
)
def test_a_bad_cluster_setting_names_its_key(setting: str, key: str) -> None:
    with pytest.raises(ConfigError, match=rf"config.yaml:\d+: {key}: ") as err:
        parse_config(PG + BASE + f"cluster: {{{setting}}}\n", "config.yaml", {})
    assert "\n" not in str(err.value)


def test_config_check_says_whether_this_is_a_cluster_node_and_with_which_leases(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "config.yaml")
    single = config_summary(parse_config(BASE, path, {}))
    assert "cluster: off (one daemon per database)" in single.splitlines()
    text = PG + BASE + "cluster: {enabled: true, node: de-1}\n"
    node = config_summary(parse_config(text, path, {}))
    assert (
        "cluster: node de-1, claims 50 series at a time for 2m, leader lease 15s, "
        f"spool {tmp_path / 'spool-de-1.sqlite'}"
    ) in node.splitlines()


def test_run_refuses_a_sqlite_database_given_on_the_command_line_in_cluster_mode(
    tmp_path: Path,
) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(PG + BASE + "cluster: {enabled: true}\n", encoding="utf-8")
    db = f"sqlite:///{tmp_path / 'm.db'}"
    result = CliRunner().invoke(cli, ["--config", str(cfg), "--database", db, "run"])
    assert result.exit_code == 2
    assert result.output == (
        "--database: cluster mode needs a PostgreSQL --database, "
        "not a SQLite file (one machine's)\n"
    )
    assert not (tmp_path / "m.db").exists()  # refused before anything was opened
