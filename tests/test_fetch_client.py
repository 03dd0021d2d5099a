"""The shared fetcher (``monitor.fetch.client``): retries and refusals, timeouts and network
errors, redirects, headers, cookies, warm-ups, proxies and its log line.

HTTP goes through ``httpx.MockTransport`` with plain router functions (``tests.helpers.fetch``);
time never passes for real.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from monitor.core.observation import Status
from monitor.fetch.client import Fetcher, FetchPolicy
from monitor.sources.base import SourceOptions
from tests.helpers.fetch import FAST, NOW, FakeTime, get, make_fetcher, sequence

# --- retries and refusals -------------------------------------------------------------


async def test_5xx_is_retried_with_backoff_then_succeeds() -> None:
    handler, seen = sequence(httpx.Response(500), httpx.Response(502), httpx.Response(200))
    time = FakeTime()
    async with make_fetcher(handler, time) as fetcher:
        result = await fetcher.fetch(get(), FAST)
    assert result.ok and result.http_status == 200 and result.attempts == 3
    assert len(seen) == 3
    assert time.sleeps == [0.5, 1.0]  # exponential: base 1s, 2s, half of each fixed


async def test_persistent_503_is_http_error_after_all_attempts() -> None:
    handler, seen = sequence(httpx.Response(503))
    async with make_fetcher(handler) as fetcher:
        result = await fetcher.fetch(get(), FAST)
    assert result.status is Status.HTTP_ERROR and result.http_status == 503
    assert result.reason == "HTTP 503 Service Unavailable (3 attempts)"
    assert len(seen) == 3


async def test_retry_after_seconds_is_honoured() -> None:
    handler, _ = sequence(httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200))
    time = FakeTime()
    async with make_fetcher(handler, time) as fetcher:
        result = await fetcher.fetch(get(), FAST)
    assert result.ok
    assert time.sleeps == [7.0]


async def test_retry_after_http_date_is_measured_against_the_date_header() -> None:
    served = datetime(2030, 1, 1, tzinfo=UTC)  # the server's clock, far from ours
    headers = {
        "Date": format_datetime(served, usegmt=True),
        "Retry-After": format_datetime(served + timedelta(seconds=30), usegmt=True),
    }
    handler, _ = sequence(httpx.Response(503, headers=headers), httpx.Response(200))
    time = FakeTime()
    async with make_fetcher(handler, time) as fetcher:
        assert (await fetcher.fetch(get(), FAST)).ok
    assert time.sleeps == [30.0]


async def test_retry_after_http_date_without_date_header_uses_our_clock() -> None:
    later = format_datetime(NOW + timedelta(seconds=12), usegmt=True)
    handler, _ = sequence(httpx.Response(429, headers={"Retry-After": later}), httpx.Response(200))
    time = FakeTime()
    async with make_fetcher(handler, time) as fetcher:
        assert (await fetcher.fetch(get(), FAST)).ok
    assert time.sleeps == [12.0]


async def test_retry_after_beyond_cap_gives_up_and_holds_the_host_back() -> None:
    handler, seen = sequence(httpx.Response(429, headers={"Retry-After": "3600"}))
    time = FakeTime()
    async with make_fetcher(handler, time, retry_after_cap=120.0) as fetcher:
        result = await fetcher.fetch(get(), FAST)
        assert result.status is Status.BLOCKED
        assert result.reason == "HTTP 429 Too Many Requests, Retry-After 3600s"
        assert len(seen) == 1 and time.sleeps == []
        await fetcher.fetch(get("https://engine.test/other"), FAST)
    assert time.sleeps == [120.0]  # the next request to that host waited


async def test_persistent_429_is_blocked() -> None:
    handler, seen = sequence(httpx.Response(429))
    async with make_fetcher(handler) as fetcher:
        result = await fetcher.fetch(get(), FAST)
    assert result.status is Status.BLOCKED and result.http_status == 429
    assert result.reason == "HTTP 429 Too Many Requests (3 attempts)"
    assert len(seen) == 3


async def test_403_is_blocked_without_retry_and_keeps_the_page() -> None:
    handler, seen = sequence(httpx.Response(403, text="<h1>denied</h1>"))
    async with make_fetcher(handler) as fetcher:
        result = await fetcher.fetch(get(), FAST)
    assert result.status is Status.BLOCKED and result.reason == "HTTP 403 Forbidden"
    assert len(seen) == 1
    assert result.response is not None and result.response.text == "<h1>denied</h1>"


async def test_404_is_http_error_without_retry() -> None:
    handler, seen = sequence(httpx.Response(404))
    async with make_fetcher(handler) as fetcher:
        result = await fetcher.fetch(get(), FAST)
    assert result.status is Status.HTTP_ERROR and result.http_status == 404
    assert result.reason == "HTTP 404 Not Found"
    assert len(seen) == 1


# --- timeouts and network errors ------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (httpx.ReadTimeout, "read timeout after 20s (3 attempts)"),
        (httpx.ConnectTimeout, "connect timeout after 10s (3 attempts)"),
        (httpx.ConnectError, "connection refused (3 attempts)"),
    ],
)
async def test_network_failures_are_retried_then_network_error(
    exc: type[httpx.TransportError], reason: str
) -> None:
    calls = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise exc("[Errno 111] Connection refused", request=request)

    async with make_fetcher(handler) as fetcher:
        result = await fetcher.fetch(get(), FAST)
    assert result.status is Status.NETWORK_ERROR and result.reason == reason
    assert result.response is None and result.http_status is None
    assert calls == 3


async def test_total_timeout_covers_a_body_that_never_finishes() -> None:
    class Drip(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield b"<html>"
            await asyncio.Event().wait()  # the rest never comes

    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=Drip())

    policy = FetchPolicy(interval=0.0, retries=0, timeout=0.05)
    async with make_fetcher(handler) as fetcher:
        result = await fetcher.fetch(get(), policy)
    assert result.status is Status.NETWORK_ERROR
    assert result.reason == "timeout after 0.05s"


# --- redirects ------------------------------------------------------------------------


async def test_redirects_are_followed_within_the_limit() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        n = int(request.url.params.get("n", "0"))
        if n < 5:
            return httpx.Response(302, headers={"Location": f"/hop?n={n + 1}"})
        return httpx.Response(200, text="arrived")

    async with make_fetcher(handler) as fetcher:
        result = await fetcher.fetch(get("https://engine.test/hop"), FAST)
    assert result.ok and result.response is not None
    assert result.response.text == "arrived" and len(result.response.history) == 5


async def test_redirect_loop_beyond_the_limit_is_http_error() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"Location": "/again"})

    async with make_fetcher(handler) as fetcher:
        result = await fetcher.fetch(get(), FAST)
    assert result.status is Status.HTTP_ERROR
    assert result.reason == "too many redirects (> 5)"


# --- headers, cookies, warm-ups, proxies, logs ----------------------------------------


async def test_cookies_from_a_warmup_are_sent_on_the_next_request() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/":
            return httpx.Response(200, headers={"Set-Cookie": "BAIDUID=abc123; Path=/"})
        return httpx.Response(200, text=request.headers.get("Cookie", "none"))

    async with make_fetcher(handler) as fetcher:
        warm = [fetcher.warm_up("baidu", get("https://image.engine.test/"), FAST) for _ in range(3)]
        await asyncio.gather(*warm)
        result = await fetcher.fetch(get("https://image.engine.test/acjson"), FAST)
    assert result.response is not None and result.response.text == "BAIDUID=abc123"


async def test_warm_up_is_sent_once_per_key() -> None:
    handler, seen = sequence(httpx.Response(200))
    async with make_fetcher(handler) as fetcher:
        await asyncio.gather(*(fetcher.warm_up("k", get(), FAST) for _ in range(5)))
        await fetcher.warm_up("k", get(), FAST)
    assert len(seen) == 1


async def test_failed_warm_up_is_retried_only_after_a_while() -> None:
    handler, seen = sequence(httpx.Response(500))
    time = FakeTime()
    policy = FetchPolicy(interval=0.0, retries=0)
    async with make_fetcher(handler, time, warmup_retry_after=600.0) as fetcher:
        await fetcher.warm_up("k", get(), policy)
        await fetcher.warm_up("k", get(), policy)
        assert len(seen) == 1
        time.now += 601
        await fetcher.warm_up("k", get(), policy)
    assert len(seen) == 2


async def test_headers_defaults_source_values_and_user_overrides() -> None:
    opts = SourceOptions(kind="fake", headers={"Referer": "https://user.example/"})
    handler, seen = sequence(httpx.Response(200))
    request = get(headers={"Accept-Language": "en", "Referer": "https://source.example/"})
    async with make_fetcher(handler) as fetcher:
        await fetcher.fetch(request, FetchPolicy.from_options(opts))
    sent = seen[0].headers
    assert sent["User-Agent"] == opts.user_agent  # default filled in
    assert sent["Accept-Language"] == "en"  # the source's own value kept
    assert sent["Referer"] == "https://user.example/"  # the user's config wins


async def test_each_proxy_setting_gets_its_own_client() -> None:
    async with Fetcher() as fetcher:
        direct = fetcher.client(None)
        socks = fetcher.client("socks5://127.0.0.1:1080")
        assert socks is not direct and fetcher.client(None) is direct


async def test_failure_log_masks_secrets(caplog: pytest.LogCaptureFixture) -> None:
    handler, _ = sequence(httpx.Response(404))
    url = "https://api.engine.test/v1?q=x&key=SECRET1&cx=abc&token=SECRET2"
    with caplog.at_level(logging.DEBUG, logger="monitor.fetch.client"):
        async with make_fetcher(handler) as fetcher:
            await fetcher.fetch(get(url), FAST)
    ours = [r.getMessage() for r in caplog.records if r.name == "monitor.fetch.client"]
    assert len(ours) == 1 and "HTTP 404" in ours[0]
    assert "SECRET" not in ours[0] and "cx=abc" in ours[0]
