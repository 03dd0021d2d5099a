"""A hostile scraped value in one result never takes down the round (issue 14, item 0).

Through the real round path: ``check`` against a loopback engine, then the stored snapshots.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli.main import cli
from monitor.testing import LocalServer, Reply, Request
from tests.helpers.parsers import nested_divs, result_page


def _check(config: Path, db: Path, columns: str) -> list[tuple]:
    """Run ``absence-monitor check``; (source name, *columns) of every snapshot stored."""
    result = CliRunner().invoke(cli, ["--config", str(config), "check"])
    assert result.exit_code == 0, result.output
    with sqlite3.connect(db) as conn:
        return conn.execute(
            f"select s.name, {columns} from snapshots n"
            " join series r on r.id = n.series_id join sources s on s.id = r.source_id"
            " order by s.name"
        ).fetchall()


def test_a_bad_port_in_one_result_leaves_the_round_stored(tmp_path: Path) -> None:
    def handler(req: Request) -> Reply:
        srcs = ["/img/a", "/img/b"]
        if req.path.startswith("/bad"):
            srcs.append("https://a:99999/x")
        items = "".join(
            f'<div class="r"><a href="/page/{i}"><img src="{s}">photo</a></div>'
            for i, s in enumerate(srcs)
        )
        return Reply(200, f"<html><body>{items}</body></html>")

    with LocalServer(handler) as server:
        cfg = tmp_path / "config.yaml"
        cfg.write_text(
            f"""
database: {{url: "sqlite:///{tmp_path / "m.db"}"}}
people: [{{name: Dong Jingwei}}]
sources:
  hostile: {{kind: html, url: "{server.url}/bad?q={{query}}", item: div.r, rate: 50/1s}}
  plain: {{kind: html, url: "{server.url}/good?q={{query}}", item: div.r, rate: 50/1s}}
""",
            encoding="utf-8",
        )
        rows = _check(cfg, tmp_path / "m.db", "n.status, n.image_count, n.reason")
    assert rows == [
        ("hostile", "ok", 2, "skipped 1 item(s) with an unparseable URL"),
        ("plain", "ok", 2, None),
    ]


@pytest.mark.e2e
def test_a_page_too_complex_to_parse_holds_back_no_other_host(tmp_path: Path) -> None:
    """A 7.75 MB page of nested ``<div>`` elements (under the 8 MB cap) on one local engine,
    plain pages on another: the plain engine's checks finish while the hostile page is
    being parsed (inline, its parse held the event loop for minutes), and the hostile
    check is ``parse_error`` "too complex", its budget spent in a worker."""
    bomb = nested_divs(7_750_000)
    plain = result_page(2)
    with (
        LocalServer(lambda req: Reply(200, bomb)) as hostile,
        LocalServer(lambda req: Reply(200, plain)) as engine,
    ):
        cfg = tmp_path / "config.yaml"
        people = "\n".join(f"  - {{name: Person {i}, sources: [plain]}}" for i in range(6))
        cfg.write_text(
            f"""
database: {{url: "sqlite:///{tmp_path / "m.db"}"}}
people:
  - {{name: Dong Jingwei, sources: [hostile]}}
{people}
sources:
  hostile: {{kind: html, url: "{hostile.url}/?q={{query}}", item: div.r, parse_cpu: 1s}}
  plain: {{kind: html, url: "{engine.url}/?q={{query}}", item: div.r, rate: 2/1s}}
evidence: {{keep_raw: false, keep_thumbnails: false}}
""",
            encoding="utf-8",
        )
        rows = _check(cfg, tmp_path / "m.db", "n.status, n.reason, n.started_at, n.finished_at")
    spans = [(r[3], r[4]) for r in rows if r[0] == "plain" and r[1] == "ok"]
    assert len(spans) == 6
    first = min(datetime.fromisoformat(s) for s, _ in spans)
    last = max(datetime.fromisoformat(f) for _, f in spans)
    # Six checks at 2/s take 2.5 s; a worker's start and a loaded machine get the rest.
    assert (last - first).total_seconds() < 20
    hostile_rows = [r[1:3] for r in rows if r[0] == "hostile"]
    assert hostile_rows == [("parse_error", "too complex (over its 1s CPU budget)")]
