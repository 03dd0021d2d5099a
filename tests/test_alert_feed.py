"""The Atom feed of alerts (``monitor.web.feed``): ``alerts feed -o`` and ``/alerts.atom``,
parsed the way feed readers parse it (feedparser), with stable ids and hostile text."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import httpx
import pytest
from click.testing import CliRunner

from monitor.alerts.payload import build_payload, vanished_image
from monitor.app import App, build
from monitor.cli.main import cli
from monitor.config import parse_config
from monitor.core.clock import FakeClock
from monitor.core.metrics import Metrics
from monitor.core.observation import ImageItem
from monitor.daemon.server import StatusServer
from monitor.store import outbox

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
HOSTILE = "<script>alert(1)</script> \x1b[31m\u202e\x00 & “quoted”"


def config_text(tmp_path: Path) -> str:
    return (
        f"database: {{url: 'sqlite:///{tmp_path / 'm.db'}'}}\n"
        "people: [{name: Dong Jingwei, aliases: [董经纬]}]\n"
        "sources: {baidu: {kind: baidu_images}}\n"
        "alerts: {report_url: 'https://news.example/report.html'}\n"
    )


@pytest.fixture
def app(tmp_path: Path) -> App:
    config = parse_config(config_text(tmp_path), "config.yaml", {})
    app = build(config, channels=[], clock=FakeClock(NOW))
    app.migrate()
    with app.sessions() as session, session.begin():
        drop = build_payload(
            event="drop",
            alert_id=0,
            checked_at=NOW - timedelta(hours=2),
            person="Dong Jingwei",
            term="董经纬",
            source="baidu",
            observed=3,
            baseline=30,
            baseline_window_days=14,
            reason="2 consecutive valid checks at 10% of the 14-day median",
            vanished_images=[
                vanished_image(ImageItem("https://img.example.cn/1.jpg", title=HOSTILE), NOW, NOW)
            ],
        )
        outbox.enqueue(session, payload=dict(drop), channels=[], now=NOW - timedelta(hours=2))
        healthy = build_payload(
            event="source_recovered", alert_id=0, checked_at=NOW, source="baidu", reason="ok"
        )
        outbox.enqueue(session, payload=dict(healthy), channels=[], now=NOW)
    return app


def test_feed_written_by_the_cli_parses_cleanly_one_entry_per_alert(
    app: App, tmp_path: Path
) -> None:
    (tmp_path / "config.yaml").write_text(config_text(tmp_path))
    target = tmp_path / "alerts.atom"
    run = CliRunner().invoke(
        cli, ["--config", str(tmp_path / "config.yaml"), "alerts", "feed", "-o", str(target)]
    )
    assert run.exit_code == 0, run.output
    assert run.output.strip() == f"feed written to {target} (2 alerts)"
    feed = feedparser.parse(target.read_bytes())
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.feed.title == "image-absence-monitor alerts"
    newest, drop = feed.entries
    assert newest.title == "baidu works again"
    assert drop.title == "Dong Jingwei on baidu: 3 images, −90% vs 14-day median"
    assert [t.term for t in drop.tags] == ["drop"]
    assert drop.published == "2026-11-26T10:00:00Z"
    text = drop.content[0].value
    assert "<script>alert(1)</script>" in text  # kept as text, escaped in the XML
    assert "\x1b" not in text and "\u202e" not in text and "\x00" not in text
    assert b"<script>" not in target.read_bytes()
    # Written again, the feed keeps every id: readers do not show an alert twice.
    again = feedparser.parse(target.read_bytes())
    assert [e.id for e in again.entries] == [e.id for e in feed.entries]
    assert len({e.id for e in feed.entries}) == 2
    assert all(e.id.startswith("urn:uuid:") for e in feed.entries)


def test_feed_into_a_missing_directory_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(config_text(tmp_path))
    target = tmp_path / "missing" / "alerts.atom"
    run = CliRunner().invoke(
        cli, ["--config", str(tmp_path / "config.yaml"), "alerts", "feed", "-o", str(target)]
    )
    assert run.exit_code == 1
    assert run.output.strip().splitlines() == [
        f"error: cannot write {target}: directory {target.parent} does not exist"
    ]


@pytest.fixture
def served(app: App) -> Iterator[str]:
    server = StatusServer(app, Metrics(), "127.0.0.1", 0, token="s3cret-token")
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()


@pytest.mark.e2e
def test_status_server_serves_the_feed_behind_the_token(served: str) -> None:
    assert httpx.get(f"{served}/alerts.atom", trust_env=False).status_code == 401
    answer = httpx.get(
        f"{served}/alerts.atom",
        headers={"Authorization": "Bearer s3cret-token"},
        trust_env=False,
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/atom+xml; charset=utf-8"
    # A reader resolves the relative link against where it fetched the feed.
    where = {
        "content-location": f"{served}/alerts.atom",
        "content-type": answer.headers["content-type"],
    }
    feed = feedparser.parse(answer.content, response_headers=where)
    assert not feed.bozo
    drop = feed.entries[1]
    assert drop.link == f"{served}/report/Dong%20Jingwei"  # relative to the feed's URL
    assert "in the report" not in drop.content[0].value  # one image: no "and N more"
