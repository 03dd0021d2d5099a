"""The SPN2 client's reading of the archive's answers: untrusted input, never an exception,
and only a confirmed capture is ``archived``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from monitor.app import build
from monitor.config import parse_config
from monitor.core.clock import FakeClock
from monitor.daemon.jobs import schedule_jobs
from monitor.daemon.service import Daemon
from monitor.evidence.wayback import SavePageNow, classify_status, classify_submit

BASE = "https://archive.test"
URL = "https://news.test/a"


def answer(status: int, body: object, **headers: str) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.Response(status, content=content, headers=headers)


def test_a_job_id_is_a_submission() -> None:
    got = classify_submit(answer(200, {"url": URL, "job_id": "spn2-abc123"}))
    assert (got.kind, got.job_id) == ("submitted", "spn2-abc123")


@pytest.mark.parametrize(
    ("response", "kind", "rate_limited"),
    [
        (answer(429, b"Too Many Requests", **{"Retry-After": "90"}), "retry", True),
        (answer(200, {"status": "error", "status_ext": "error:user-session-limit"}), "retry", True),
        (
            answer(200, {"status": "error", "status_ext": "error:too-many-daily-captures"}),
            "retry",
            True,
        ),
        (
            answer(200, {"status": "error", "status_ext": "error:invalid-url-syntax"}),
            "failed",
            False,
        ),
        (answer(401, {"message": "bad"}), "refused", False),
        (answer(502, b"<html>bad gateway</html>"), "retry", False),
        (answer(200, b"<html>not json</html>"), "retry", False),
        (answer(200, {"job_id": "../../etc/passwd"}), "retry", False),
        (answer(200, b"[" * 100_000), "retry", False),
    ],
)
def test_submit_answers(response: httpx.Response, kind: str, rate_limited: bool) -> None:
    got = classify_submit(response)
    assert (got.kind, got.rate_limited) == (kind, rate_limited)
    assert len(got.reason) <= 220


def test_retry_after_is_honoured_and_bounded() -> None:
    assert classify_submit(answer(429, b"", **{"Retry-After": "90"})).retry_after == 90
    assert classify_submit(answer(429, b"", **{"Retry-After": "1e12"})).retry_after == 86400


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ({"status": "pending"}, "pending"),
        ({"status": "success", "timestamp": "20261207221500", "original_url": URL}, "archived"),
        ({"status": "success", "timestamp": "../../x", "original_url": URL}, "pending"),
        ({"status": "success"}, "pending"),
        ({"status": "error", "status_ext": "error:blocked-url"}, "failed"),
        ({"status": "error", "status_ext": "error:soft-time-limit-exceeded"}, "retry"),
        ({"status": "error", "status_ext": "error:unauthorized"}, "refused"),
        (["not", "an", "object"], "pending"),
    ],
)
def test_status_answers(body: object, kind: str) -> None:
    assert classify_status(answer(200, body), BASE, URL).kind == kind


def test_an_archived_copy_points_at_the_archive_and_never_at_a_hostile_original() -> None:
    ok = {"status": "success", "timestamp": "20261207221500", "original_url": URL}
    assert classify_status(answer(200, ok), BASE, URL).archive_url == (
        f"{BASE}/web/20261207221500/{URL}"
    )
    hostile = dict(ok, original_url="javascript:alert(1)")
    assert classify_status(answer(200, hostile), BASE, URL).archive_url == (
        f"{BASE}/web/20261207221500/{URL}"
    )
    assert classify_status(answer(200, ok), BASE, URL).resubmit is False


async def test_the_client_sends_the_documented_request_and_survives_the_network() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/save/status/spn2-1":
            raise httpx.ConnectError("refused")
        return answer(200, {"url": URL, "job_id": "spn2-1"})

    client = SavePageNow(BASE, "k", "s", user_agent="ua/1", transport=httpx.MockTransport(handler))
    assert (await client.submit(URL)).job_id == "spn2-1"
    got = await client.status("spn2-1", URL)
    assert got.kind == "retry" and not got.resubmit  # ask again later, do not resubmit
    await client.aclose()
    post = seen[0]
    assert (post.method, str(post.url)) == ("POST", f"{BASE}/save")
    assert post.headers["authorization"] == "LOW k:s"
    assert post.headers["accept"] == "application/json"
    assert b"url=https%3A%2F%2Fnews.test%2Fa" in post.content


def test_the_daemon_schedules_the_archive_job_only_when_enabled(tmp_path: Path) -> None:
    def jobs(extra: str, env: dict[str, str]) -> set[str]:
        config = parse_config(
            f"database: {{url: 'sqlite:///{tmp_path / 'm.db'}'}}\npeople: [{{name: X}}]\n"
            f"sources: {{bing: {{kind: bing_images}}}}\n{extra}",
            "config.yaml",
            env,
        )
        now = datetime(2026, 12, 7, tzinfo=UTC)
        app = build(config, channels=[], clock=FakeClock(now))
        scheduler = AsyncIOScheduler(timezone=UTC)
        schedule_jobs(scheduler, Daemon(app), app.config, app.clock, {})
        return {job.id for job in scheduler.get_jobs()}

    assert "archive" not in jobs("", {})
    on = "evidence: {archive: {wayback: {enabled: true, access_key: '${A}', secret_key: '${S}'}}}\n"
    assert "archive" in jobs(on, {"A": "k", "S": "s"})
