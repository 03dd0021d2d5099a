"""End to end: `absence-monitor check` against engines served on 127.0.0.1 from real
fixtures -> snapshots in SQLite with the right statuses and counts."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.testing import LocalServer, Reply, Request

FIX = Path(__file__).parent / "fixtures" / "sources"
pytestmark = pytest.mark.e2e


def engine(req: Request) -> Reply:
    term = (req.query.get("word") or req.query.get("q") or req.query.get("gsrsearch") or [""])[0]
    if req.path == "/":
        return Reply(200, "<html>home</html>", headers={"Set-Cookie": "BAIDUID=abc; Path=/"})
    if req.path == "/search/acjson":
        if term == "blocked person":
            return Reply(
                200, (FIX / "baidu_images/acjson-antiflag-1.json").read_bytes(), "application/json"
            )
        if term == "broken person":
            return Reply(200, "<html><body>new layout</body></html>")
        return Reply(
            200, (FIX / "baidu_images/acjson-results.json").read_bytes(), "application/json"
        )
    if req.path == "/images/async":
        if term == "nobody":
            return Reply(200, (FIX / "bing_images/no-results-constructed.html").read_bytes())
        return Reply(200, (FIX / "bing_images/search-results-stripped.html").read_bytes())
    return Reply(404, "not found", "text/plain")


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer(engine) as s:
        yield s


def test_check_stores_snapshots_with_honest_statuses(server: LocalServer, tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    config = tmp_path / "config.yaml"
    config.write_text(
        f"""
database:
  url: sqlite:///{db}
people:
  - name: Dong Jingwei
  - name: blocked person
  - name: broken person
  - name: nobody
sources:
  baidu:
    kind: baidu_images
    base_url: {server.url}
    rate: 50/1s
    concurrency: 4
  bing:
    kind: bing_images
    base_url: {server.url}
    rate: 50/1s
    concurrency: 4
    controls: [giant panda]
""",
        encoding="utf-8",
    )
    proc = subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(config), "check"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    with sqlite3.connect(db) as conn:
        rows = conn.execute("""
            select p.name, s.name, sn.status, sn.image_count, sn.reported_total, sn.reason
            from snapshots sn join series se on se.id = sn.series_id
            join people p on p.id = se.person_id join sources s on s.id = se.source_id
        """).fetchall()
    got = {(r[0], r[1]): r[2:] for r in rows}
    assert got[("Dong Jingwei", "baidu")][:3] == ("ok", 1, 116812)
    assert got[("blocked person", "baidu")][0] == "blocked"
    assert got[("blocked person", "baidu")][1] is None  # a block is never zero images
    assert got[("broken person", "baidu")][0] == "parse_error"
    assert got[("broken person", "baidu")][1] is None
    assert got[("nobody", "bing")][:2] == ("no_results", 0)
    assert got[("Dong Jingwei", "bing")][:2] == ("ok", 5)
    assert got[("control:bing", "bing")][:2] == ("ok", 5)
    # Baidu's home page was visited first for cookies, and once more after the antiFlag
    # answer (one renewal, then the check is blocked).
    assert sum(1 for r in server.requests if r.path == "/") == 2
    assert "refused again after a fresh warm-up" in got[("blocked person", "baidu")][3]
    assert "blocked" in proc.stdout and "parse_error" in proc.stdout


def test_raw_returns_the_body_the_engine_sent_for_a_snapshot(
    server: LocalServer, tmp_path: Path
) -> None:
    db = tmp_path / "m.db"
    config = tmp_path / "config.yaml"
    config.write_text(
        f"""
database: {{url: "sqlite:///{db}"}}
people: [{{name: Dong Jingwei}}]
sources:
  baidu: {{kind: baidu_images, base_url: "{server.url}", rate: 50/1s}}
""",
        encoding="utf-8",
    )
    run = [sys.executable, "-m", "monitor", "--config", str(config)]
    subprocess.run([*run, "check"], capture_output=True, check=True, timeout=60)
    with sqlite3.connect(db) as conn:
        [(snapshot_id,)] = conn.execute("select id from snapshots").fetchall()
    proc = subprocess.run(
        [*run, "raw", str(snapshot_id)], capture_output=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (FIX / "baidu_images/acjson-results.json").read_bytes()
    assert b"sha256" in proc.stderr
    missing = subprocess.run(
        [*run, "raw", "999"], capture_output=True, text=True, timeout=60, check=False
    )
    assert missing.returncode == 1
    assert "no raw response kept for snapshot 999" in missing.stderr
