"""A hostile scraped value in one result never takes down the round (issue 14, item 0).

Through the real round path: ``check`` against a loopback engine, then the stored snapshots.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from click.testing import CliRunner

from monitor.cli.main import cli
from monitor.testing import LocalServer, Reply, Request


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
        result = CliRunner().invoke(cli, ["--config", str(cfg), "check"])
        assert result.exit_code == 0, result.output
    with sqlite3.connect(tmp_path / "m.db") as conn:
        rows = conn.execute(
            "select s.name, n.status, n.image_count, n.reason from snapshots n"
            " join series r on r.id = n.series_id join sources s on s.id = r.source_id"
            " order by s.name"
        ).fetchall()
    assert rows == [
        ("hostile", "ok", 2, "skipped 1 item(s) with an unparseable URL"),
        ("plain", "ok", 2, None),
    ]
