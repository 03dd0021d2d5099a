"""The command line without rough edges (issue 13 item 7): a person is found by any name in
any case; usage errors exit 2; a closed pipe ends quietly; a missing output directory is one
line before any work; history shows snapshot ids; ``check --format json`` and ``--strict``;
``-v`` without Alembic's noise; ``health`` for the container's HEALTHCHECK.

The engine is a real server on 127.0.0.1 answering a small HTML result page, except for the
term ``broken``, which gets HTTP 500.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from monitor.cli.main import cli
from monitor.testing import LocalServer, Reply, Request

ROOT = Path(__file__).resolve().parents[1]

PAGE = (
    "<html><body>"
    + "".join(
        f'<div class="r"><a href="https://site.example/{i}">'
        f'<img src="https://img.example/{i}.jpg"></a></div>'
        for i in range(5)
    )
    + "</body></html>"
)


def answer(request: Request) -> Reply:
    if request.path == "/hook":
        return Reply(status=503, body="busy")
    if request.query.get("q") == ["broken"]:
        return Reply(status=500, body="down")
    return Reply(body=PAGE)


@dataclass
class Setup:
    """A config on a database in ``tmp``, its engine on 127.0.0.1."""

    tmp: Path
    server: LocalServer

    @property
    def config(self) -> Path:
        return self.tmp / "config.yaml"

    def write(self, people: str, extra: str = "", controls: str = "[panda]") -> None:
        self.config.write_text(
            f"database:\n  url: sqlite:///{self.tmp / 'm.db'}\n"
            f"people:\n{people}"
            "sources:\n  site:\n    kind: html\n"
            f"    url: {self.server.url}/s?q={{query}}\n"
            f'    item: ".r"\n    controls: {controls}\n    rate: 100/1s\n    retries: 0\n'
            "evidence:\n  keep_thumbnails: false\n" + extra,
            encoding="utf-8",
        )

    def cli(self, *args: str) -> Result:
        return CliRunner().invoke(cli, ["--config", str(self.config), *args])

    def process(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "monitor", "--config", str(self.config), *args]


DONG = "  - name: Dong Jingwei\n    aliases: [董经纬]\n"
CHEN = "  - name: Chen Yixin\n    aliases: [陈一新]\n"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Setup]:
    with LocalServer(answer) as server:
        setup = Setup(tmp_path, server)
        setup.write(DONG + CHEN)
        yield setup


@pytest.fixture
def checked(site: Setup) -> Setup:
    """The setup after one `check` of every series."""
    result = site.cli("check")
    assert result.exit_code == 0, result.output
    return site


FULL_WIDTH = "ＤＯＮＧ　ＪＩＮＧＷＥＩ"  # an IME's full-width letters and space: NFKC folds them


@pytest.mark.parametrize("typed", ["Dong Jingwei", "dong jingwei", "董经纬", FULL_WIDTH])
def test_history_finds_a_person_by_any_name_in_any_case(checked: Setup, typed: str) -> None:
    result = checked.cli("history", typed)
    assert result.exit_code == 0, result.output
    assert "history of Dong Jingwei" in result.stdout
    assert "董经纬 @ site" in result.stdout and "Chen" not in result.stdout


def test_check_person_by_alias_checks_only_that_person(site: Setup) -> None:
    result = site.cli("check", "--person", "董经纬", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    watched = {r["term"] for r in rows if r["role"] == "watch"}
    assert watched == {"Dong Jingwei", "董经纬"}


def test_a_name_shared_by_two_people_is_an_error_listing_both(site: Setup) -> None:
    site.write(
        "  - name: Li Shangfu\n    aliases: [Li]\n  - name: Li Qiang\n    aliases: [li]\n"
    )
    result = site.cli("check", "--person", "LI")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: 'LI' names several people: Li Shangfu, Li Qiang; use the full name"
    )


def test_unknown_person_exits_2_listing_the_known_ones(checked: Setup) -> None:
    for command in (["history", "Wang Yi"], ["check", "--person", "Wang Yi"], ["report", "Wang"]):
        result = checked.cli(*command)
        assert result.exit_code == 2, command
        assert result.stderr.strip().splitlines() == [
            "error: no person named "
            + repr(command[-1])
            + " (known: Chen Yixin, Dong Jingwei)"
        ]


def test_unknown_source_exits_2(checked: Setup) -> None:
    history = ["history", "Dong Jingwei", "--source", "baidu"]
    for command in (["check", "--source", "baidu"], history):
        result = checked.cli(*command)
        assert result.exit_code == 2, command
        assert result.stderr.strip() == "error: no source named 'baidu' (known: site)"


@pytest.mark.e2e
def test_a_closed_pipe_ends_quietly(checked: Setup) -> None:
    for command in (["history", "dong jingwei", "--format", "csv"], ["config", "check"]):
        proc = subprocess.Popen(
            checked.process(*command), stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()  # the reader is gone before the first line is written (`| head`)
        with proc.stderr:
            stderr = proc.stderr.read().decode()
        proc.wait(timeout=60)
        assert stderr == "", command


def test_history_table_shows_snapshot_ids(checked: Setup) -> None:
    result = checked.cli("check")
    assert result.exit_code == 0
    rows = json.loads(checked.cli("history", "Dong Jingwei", "--format", "json").stdout)
    ids = [r["snapshot_id"] for r in rows if r["term"] == "董经纬"]
    assert len(ids) == 2
    table = checked.cli("history", "Dong Jingwei").stdout
    line = next(line for line in table.splitlines() if "董经纬 @ site" in line)
    assert f"{ids[0]}…{ids[1]}" in line
    assert "snapshots" in table


def test_check_format_json_has_one_object_per_check(site: Setup) -> None:
    result = site.cli("check", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    # Two people with two names each, one control.
    assert len(rows) == 5
    assert {r["status"] for r in rows} == {"ok"}
    assert all(r["count"] == 5 and isinstance(r["snapshot_id"], int) for r in rows)


def test_check_strict_exits_3_when_a_check_failed(site: Setup) -> None:
    site.write(DONG, controls="[broken]")
    assert site.cli("check").exit_code == 0  # the default stays 0, for cron
    result = site.cli("check", "--strict")
    assert result.exit_code == 3
    assert "--strict: 1 failed check(s), 0 undelivered" in result.stderr


def test_check_strict_exits_3_while_a_delivery_stays_pending(site: Setup) -> None:
    from monitor.alerts.payload import build_payload
    from monitor.app import build
    from monitor.config import load_config
    from monitor.core.clock import utcnow
    from monitor.store import outbox

    # The receiver answers 503: a transient failure, retried later, pending meanwhile.
    hook = f"alerts:\n  webhooks:\n    - name: ops\n      url: {site.server.url}/hook\n"
    site.write(DONG, extra=hook)
    app = build(load_config(site.config))
    app.migrate()
    payload = build_payload(event="test", alert_id=0, checked_at=utcnow(), reason="test")
    with app.sessions() as session, session.begin():
        outbox.enqueue(session, payload=dict(payload), channels=["webhook:ops"], now=utcnow())
    app.engine.dispose()
    assert site.cli("check").exit_code == 0  # the default stays 0, for cron
    assert any(r.path == "/hook" for r in site.server.requests)
    result = site.cli("check", "--strict")
    assert result.exit_code == 3
    assert "0 failed check(s), 1 undelivered" in result.stderr


def test_check_strict_exits_0_when_all_is_well(site: Setup) -> None:
    result = site.cli("check", "--strict")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    "command",
    [
        ["raw", "1", "-o"],
        ["report", "-o"],
        ["alerts", "feed", "-o"],
        ["backtest", "--from-db", "-o"],
    ],
    ids=["raw", "report", "alerts feed", "backtest"],
)
def test_a_missing_output_directory_is_one_line_before_any_work(
    checked: Setup, command: list[str]
) -> None:
    target = checked.tmp / "missing" / "dir" / "out"
    result = checked.cli(*command, str(target))
    assert result.exit_code == 1
    # One line, and nothing before it: no "snapshot 1: ... bytes", no "report written".
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: cannot write {target}: directory {target.parent} does not exist"
    ]


@pytest.mark.e2e
def test_verbose_output_has_no_alembic_plugin_noise(checked: Setup) -> None:
    def stderr(verbosity: str, *command: str) -> str:
        proc = subprocess.run(
            [*checked.process()[:5], verbosity, *command],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return proc.stderr

    def new_database(name: str) -> list[str]:
        # Alembic is loaded only when there is migrating to do: a new database.
        return ["--database", f"sqlite:///{checked.tmp / name}", "db", "upgrade"]

    assert "alembic" not in stderr("-v", "history", "Dong Jingwei")
    assert "alembic" not in stderr("-v", *new_database("v.db"))
    assert "alembic" in stderr("-vv", *new_database("vv.db"))  # for whoever debugs a migration


def test_health_is_1_without_a_heartbeat_and_0_with_a_fresh_one(site: Setup) -> None:
    from monitor.app import build
    from monitor.config import load_config
    from monitor.core.clock import utcnow
    from monitor.store.heartbeat import record_heartbeat

    assert site.cli("db", "upgrade").exit_code == 0
    result = site.cli("health")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["problems"] == ["no heartbeat yet"]
    app = build(load_config(site.config))
    with app.sessions() as session, session.begin():
        record_heartbeat(session, "test", utcnow(), {})
    app.engine.dispose()
    result = site.cli("health")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["ok"] is True


def test_the_docker_healthcheck_runs_the_health_command() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    start = dockerfile.index("HEALTHCHECK")
    check = dockerfile[start : dockerfile.index("EXPOSE", start)]
    assert '"absence-monitor"' in check and '"health"' in check
    assert "8377" not in check  # no status server needed


def test_readme_documents_apprise_channels_and_shell_completion() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for scheme in ("signal://", "tgram://", "matrixs://", "slack://"):
        assert scheme in readme
    assert "_ABSENCE_MONITOR_COMPLETE=bash_source" in readme


def test_shell_completion_offers_every_name_and_alias(site: Setup) -> None:
    from click.shell_completion import ShellComplete

    complete = ShellComplete(cli, {}, "absence-monitor", "_ABSENCE_MONITOR_COMPLETE")

    def offered(args: list[str], typed: str) -> list[str]:
        return [c.value for c in complete.get_completions(args, typed)]

    config = ["--config", str(site.config)]
    assert offered([*config, "history"], "d") == ["Dong Jingwei"]
    assert offered([*config, "history"], "董") == ["董经纬"]
    assert offered([*config, "check", "--person"], "") == [
        "Dong Jingwei", "董经纬", "Chen Yixin", "陈一新"
    ]  # fmt: skip
    # A config that does not load completes nothing, and prints nothing into the shell.
    assert offered(["--config", str(site.tmp / "none.yaml"), "history"], "d") == []
