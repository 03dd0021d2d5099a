"""The daemon's status endpoint on 127.0.0.1: /healthz, /metrics, the pages, the token."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update

from monitor.app import App, build
from monitor.channels.base import Channel
from monitor.config import parse_config
from monitor.core.clock import FakeClock
from monitor.core.metrics import Metrics
from monitor.daemon.server import StatusServer
from monitor.store import outbox
from monitor.store.models import Delivery, Heartbeat

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
pytestmark = pytest.mark.e2e


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def app(tmp_path: Path, clock: FakeClock) -> App:
    config = parse_config(
        f"database: {{url: 'sqlite:///{tmp_path / 'm.db'}'}}\n"
        "people: [{name: Dong Jingwei}]\nsources: {bing: {kind: bing_images}}\n",
        "config.yaml",
        {},
    )
    app = build(config, channels=[], clock=clock)
    app.migrate()
    app.series()
    return app


@contextmanager
def serve(app: App, token: str | None = None) -> Iterator[tuple[str, Metrics]]:
    """A status server on a free port, stopped when the block ends, failed or not."""
    metrics = Metrics()
    server = StatusServer(app, metrics, "127.0.0.1", 0, token=token)
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}", metrics
    finally:
        server.stop()


def get(url: str, **kw: object) -> httpx.Response:
    return httpx.get(url, trust_env=False, **kw)  # type: ignore[arg-type]


def beat(app: App, at: datetime) -> None:
    with app.sessions() as session, session.begin():
        session.add(Heartbeat(instance="t", pid=1, host="h", started_at=at, beat_at=at))


def test_healthz_is_ok_with_a_fresh_heartbeat_and_503_when_it_is_old(
    app: App, clock: FakeClock
) -> None:
    beat(app, NOW)
    with serve(app) as (url, _):
        ok = get(f"{url}/healthz")
        assert ok.status_code == 200 and ok.json()["ok"] is True
        clock.advance(timedelta(minutes=5))
        stale = get(f"{url}/healthz")
        assert stale.status_code == 503
        assert stale.json()["problems"] == ["heartbeat is old"]


class Idle(Channel):
    """A configured channel the test never sends through."""

    kind = "idle"


def test_healthz_is_degraded_not_503_while_an_old_alert_waits_for_its_next_retry(
    app: App, clock: FakeClock
) -> None:
    # A receiver down for an hour: the retry schedule runs for a day, and restarting the
    # daemon (what a 503 makes Docker do) would not bring the receiver back.
    app.channels = {"email": Idle("email")}
    with app.sessions() as session, session.begin():
        outbox.enqueue(session, payload={"event": "test"}, channels=["email"], now=NOW)
        session.execute(update(Delivery).values(next_attempt_at=NOW + timedelta(hours=2)))
    clock.advance(timedelta(hours=1))
    beat(app, clock.now)
    with serve(app) as (url, _):
        answer = get(f"{url}/healthz")
    facts = answer.json()
    assert answer.status_code == 200
    assert (facts["status"], facts["outbox_depth"], facts["problems"]) == ("degraded", 1, [])
    assert facts["warnings"][0].startswith("undelivered alerts since 2026-11-26T12:00")


def test_healthz_is_503_when_a_configured_channel_s_delivery_is_long_past_its_attempt(
    app: App, clock: FakeClock
) -> None:
    # Due at NOW and still pending an hour later: nobody dispatches (a stuck dispatcher).
    app.channels = {"email": Idle("email")}
    with app.sessions() as session, session.begin():
        outbox.enqueue(session, payload={"event": "test"}, channels=["email"], now=NOW)
    clock.advance(timedelta(hours=1))
    beat(app, clock.now)
    with serve(app) as (url, _):
        answer = get(f"{url}/healthz")
    facts = answer.json()
    assert answer.status_code == 503
    assert (facts["status"], facts["deliveries_stalled"]) == ("unhealthy", 1)
    assert facts["problems"] == [
        "1 delivery(ies) overdue on configured channels: the dispatcher is not sending"
    ]


def test_metrics_are_in_prometheus_format(app: App) -> None:
    with serve(app) as (url, metrics):
        metrics.observe_check("bing", "blocked", 0.4, NOW.timestamp())
        text = get(f"{url}/metrics").text
        assert 'absence_checks_total{source="bing",status="blocked"} 1.0' in text
        assert "absence_fetch_seconds_bucket" in text
        assert "absence_outbox_depth" in text


def test_pages_need_the_token_when_one_is_set_but_healthz_does_not(app: App) -> None:
    beat(app, NOW)
    with serve(app, token="s3cret-token") as (url, _):
        assert get(f"{url}/metrics").status_code == 401
        assert get(f"{url}/metrics?token=wrong").status_code == 401
        assert get(f"{url}/metrics?token=s3cret-token").status_code == 200
        bearer = {"Authorization": "Bearer s3cret-token"}
        assert get(f"{url}/", headers=bearer).status_code == 200
        assert get(f"{url}/healthz").status_code == 200


def test_report_of_an_unknown_person_is_404(app: App) -> None:
    with serve(app) as (url, _):
        assert get(f"{url}/report/Nobody%20Here").status_code == 404
        assert get(f"{url}/nothing").status_code == 404


def test_healthz_answers_within_a_second_while_a_round_is_being_written(
    app: App, tmp_path: Path
) -> None:
    import sqlite3
    import time

    beat(app, NOW)
    writer = sqlite3.connect(tmp_path / "m.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # a round in the middle of its write transaction
    writer.execute("UPDATE sources SET name = name")
    try:
        with serve(app) as (url, _):
            started = time.monotonic()
            answer = get(f"{url}/healthz", timeout=5)
            assert time.monotonic() - started < 1.0  # the busy timeout is 30 s
            assert answer.status_code == 200 and answer.json()["ok"] is True
    finally:
        writer.rollback()
