"""The command line: every command has help; config errors exit 2 with one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from monitor.cli.main import cli

ROOT = Path(__file__).resolve().parents[1]


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for name, cmd in sorted(group.commands.items()):
        out.append((*prefix, name))
        if isinstance(cmd, click.Group):
            out += all_commands(cmd, (*prefix, name))
    return out


COMMANDS = all_commands(cli)


def test_the_documented_commands_exist() -> None:
    expected = {
        ("config", "check"),
        ("db", "upgrade"),
        ("check",),
        ("run",),
        ("history",),
        ("alerts", "list"),
        ("alerts", "test"),
        ("alerts", "feed"),
        ("report",),
        ("demo",),
    }
    assert expected <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_every_command_has_help(command: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    # A real sentence of help, not just the usage line.
    assert len(result.output.splitlines()) >= 3


def test_config_check_on_the_shipped_config_succeeds() -> None:
    result = CliRunner().invoke(cli, ["--config", str(ROOT / "config.yaml"), "config", "check"])
    assert result.exit_code == 0, result.output
    assert "people:" in result.output and "checks per day:" in result.output


def test_broken_config_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "config.yaml"
    bad.write_text(
        'people:\n  - name: X\nsources:\n  baidu:\n    kind: baidu_images\n    every: "6 hours"\n',
        encoding="utf-8",
    )
    proc = subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(bad), "config", "check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        f'{bad}:6: sources.baidu.every: "6 hours" is not a duration (use 30m, 6h, 1d)'
    )
    assert "Traceback" not in proc.stderr


def test_db_upgrade_creates_the_schema_in_a_new_sqlite_file(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    result = CliRunner().invoke(
        cli,
        ["--config", str(ROOT / "config.yaml"), "--database", f"sqlite:///{db}", "db", "upgrade"],
    )
    assert result.exit_code == 0, result.output
    assert db.exists()
    import sqlite3

    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("select name from sqlite_master where type='table'")}
    assert {"snapshots", "image_sets", "alerts", "deliveries"} <= tables


def test_a_file_that_is_not_a_database_is_one_line_and_exit_1(tmp_path: Path) -> None:
    bad = tmp_path / "notes.db"
    bad.write_text("these are my notes\n" * 100, encoding="utf-8")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "monitor",
            "--config",
            str(ROOT / "config.yaml"),
            "--database",
            f"sqlite:///{bad}",
            "db",
            "upgrade",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip() == "database: file is not a database"
    assert bad.read_text(encoding="utf-8").startswith("these are my notes")  # nothing lost


def test_a_database_migrated_by_a_newer_version_is_refused(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "m.db"
    args = ["--config", str(ROOT / "config.yaml"), "--database", f"sqlite:///{db}"]
    assert CliRunner().invoke(cli, [*args, "db", "upgrade"]).exit_code == 0
    with sqlite3.connect(db) as conn:
        conn.execute("update alembic_version set version_num = '9999'")
    result = CliRunner().invoke(cli, [*args, "db", "upgrade"])
    assert result.exit_code == 1
    assert "schema revision 9999, which this version of absence-monitor does not know" in (
        result.output
    )
