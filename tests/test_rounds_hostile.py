"""A hostile scraped value in one result never takes down the round (issue 14, item 0).

Through the real round path: ``check`` against a loopback engine, then the stored snapshots.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from click.testing import CliRunner

from monitor.cli.main import cli
from monitor.testing import LocalServer, Reply, Request
from tests.helpers.thumbnails import photo


def run_check(tmp_path: Path, sources: str, *options: str) -> str:
    """``check`` once over ``sources`` (YAML lines under ``sources:``); it must exit 0.
    Returns what it wrote to stderr (its log lines)."""
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        f"""
database: {{url: "sqlite:///{tmp_path / "m.db"}"}}
people: [{{name: Dong Jingwei}}]
sources:
{sources}
""",
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, [*options, "--config", str(cfg), "check"])
    assert result.exit_code == 0, result.output
    return result.stderr


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
        run_check(
            tmp_path,
            f"""
  hostile: {{kind: html, url: "{server.url}/bad?q={{query}}", item: div.r, rate: 50/1s}}
  plain: {{kind: html, url: "{server.url}/good?q={{query}}", item: div.r, rate: 50/1s}}""",
        )
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


def test_a_thumbnail_url_with_a_cr_is_skipped_and_the_other_thumbnails_kept(
    tmp_path: Path,
) -> None:
    """A CR in a scraped thumbnail URL made httpx raise InvalidURL out of keep_thumbnails:
    ``check`` exited 1 after the commit and the round's other thumbnails were lost."""
    urls: list[str] = []

    def handler(req: Request) -> Reply:
        if req.path.startswith("/img/"):
            return Reply(200, photo(ord(req.path[-1])), "image/png")
        base = urls[0]
        thumbs = [f"{base}/img/a", f"{base}/img/b", f"{base}/img/c\r\nSet-Cookie: x=1"]
        items = [{"picUrl": f"{base}/big/{n}", "thumbUrl": t} for n, t in enumerate(thumbs)]
        answer = {"status": 0, "data": {"items": items}}
        return Reply(200, json.dumps(answer), "application/json")

    with LocalServer(handler) as server:
        urls.append(server.url)
        sogou = f'{{kind: sogou_images, endpoint: napi, base_url: "{server.url}", rate: 50/1s}}'
        run_check(tmp_path, f"  sogou: {sogou}")
    with sqlite3.connect(tmp_path / "m.db") as conn:
        thumbs = {u for (u,) in conn.execute("select thumb_url from images")}
        kept = conn.execute("select count(*) from thumbnails").fetchone()[0]
    assert any("\r" in u for u in thumbs), thumbs  # the hostile URL reached the store
    assert kept == 2


def test_a_scraped_refusal_text_is_clipped_in_the_check_log_line(tmp_path: Path) -> None:
    said = "forbid " + "x" * 40_000

    def handler(req: Request) -> Reply:
        return Reply(200, json.dumps({"status": 1, "info": said}), "application/json")

    with LocalServer(handler) as server:
        sogou = f'{{kind: sogou_images, endpoint: napi, base_url: "{server.url}", rate: 50/1s}}'
        logged = run_check(tmp_path, f"  sogou: {sogou}", "-v")
    lines = [line for line in logged.splitlines() if "check " in line and "blocked" in line]
    assert lines, logged[:2000]
    assert all(len(line) < 600 for line in lines)
    assert all("(40,016 chars)" in line for line in lines)
