"""A page too complex to parse holds back no other host (issue 14, item 0).

A real round (``absence-monitor check``) against two engines on 127.0.0.1. One serves
hostile pages under the 8 MB cap: 7.75 MB of nested ``<div>`` elements, which took minutes
of CPU to parse inline on the event loop (now refused before the tree is built), and
7.7 MB of shallow markup that takes about 12 s of CPU (now cut at its CPU budget in a
worker). The other serves plain result pages.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli.main import cli
from monitor.testing import LocalServer, Reply
from tests.helpers.parsers import nested_divs, result_page, wide_page

pytestmark = pytest.mark.e2e


def test_a_page_too_complex_to_parse_holds_back_no_other_host(tmp_path: Path) -> None:
    """The plain engine's six checks finish while the hostile page is being parsed (inline,
    they waited 130 s for it), and the hostile check is ``parse_error`` "too complex", its
    CPU budget spent in a worker."""
    pages = {"Dong": nested_divs(7_750_000), "Wide": wide_page(7_700_000)}
    plain = result_page(2)
    with (
        LocalServer(lambda req: Reply(200, pages[req.query["q"][0].split()[0]])) as hostile,
        LocalServer(lambda req: Reply(200, plain)) as engine,
    ):
        cfg = tmp_path / "config.yaml"
        people = "\n".join(f"  - {{name: Person {i}, sources: [plain]}}" for i in range(6))
        cfg.write_text(
            f"""
database: {{url: "sqlite:///{tmp_path / "m.db"}"}}
people:
  - {{name: Dong Jingwei, sources: [hostile]}}
  - {{name: Wide Page, sources: [hostile]}}
{people}
sources:
  hostile: {{kind: html, url: "{hostile.url}/?q={{query}}", item: div.r, parse_cpu: 1s}}
  plain: {{kind: html, url: "{engine.url}/?q={{query}}", item: div.r, rate: 2/1s}}
evidence: {{keep_raw: false, keep_thumbnails: false}}
""",
            encoding="utf-8",
        )
        result = CliRunner().invoke(cli, ["--config", str(cfg), "check"])
        assert result.exit_code == 0, result.output
    with sqlite3.connect(tmp_path / "m.db") as conn:
        rows = conn.execute(
            "select s.name, n.status, n.reason, n.started_at, n.finished_at from snapshots n"
            " join series r on r.id = n.series_id join sources s on s.id = r.source_id"
            " order by n.reason"
        ).fetchall()
    spans = [(r[3], r[4]) for r in rows if r[0] == "plain" and r[1] == "ok"]
    assert len(spans) == 6
    # Stored as microseconds since 1970 (``UtcMicros``).
    first = min(datetime.fromtimestamp(s / 1e6, UTC) for s, _ in spans)
    last = max(datetime.fromtimestamp(f / 1e6, UTC) for _, f in spans)
    # Six checks at 2/s take 2.5 s; a worker's start and a loaded machine get the rest.
    assert (last - first).total_seconds() < 20
    hostile_rows = [r[1:3] for r in rows if r[0] == "hostile"]
    # The nesting is judged after its first thousand levels (well inside any CPU budget,
    # however loaded the machine), never by the worker's budget running out.
    assert hostile_rows == [
        ("parse_error", "too complex (markup nested more than 1000 deep)"),
        ("parse_error", "too complex (over its 1s CPU budget)"),
    ]
