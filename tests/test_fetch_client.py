"""The shared fetcher, through ``httpx.MockTransport`` with plain router functions.

Time never passes for real: sleeps are recorded (and advance a fake monotonic clock where
the test needs one), and the random jitter is pinned to its lower bound.
"""

from __future__ import annotations

import asyncio
import gzip
import itertools
import logging
import random
import socket
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from monitor.core.observation import Status
from monitor.fetch.body import choose_encoding, mask_url
from monitor.fetch.client import Fetcher, FetchPolicy
from monitor.fetch.policy import HostLimiter, network_reason
from monitor.sources.base import SourceOptions

Handler = Callable[[httpx.Request], Coroutine[None, None, httpx.Response]]
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
FAST = FetchPolicy(interval=0.0, retries=2)


class LowJitter(random.Random):
    """Jitter and backoff randomness at their lower bound, so waits are exact."""

    def uniform(self, a: float, b: float) -> float:
        return a


class FakeTime:
    """A monotonic clock that only moves when the code under test sleeps."""

    def __init__(self, *, advance: bool = True) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self.advance = advance

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if self.advance:
            self.now += seconds
        await asyncio.sleep(0)


def make_fetcher(handler: Handler, time: FakeTime | None = None, **kw: object) -> Fetcher:
    time = time or FakeTime()
    return Fetcher(
        transport=httpx.MockTransport(handler),
        sleep=time.sleep,
        monotonic=time.monotonic,
        clock=lambda: NOW,
        rng=LowJitter(),
        **kw,  # type: ignore[arg-type]
    )


def get(url: str = "https://engine.test/search?q=x", **kw: object) -> httpx.Request:
    return httpx.Request("GET", url, **kw)  # type: ignore[arg-type]


def sequence(*responses: httpx.Response) -> tuple[Handler, list[httpx.Request]]:
    """A router answering with ``responses`` in turn (the last one repeats)."""
    seen: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        r = responses[min(len(seen), len(responses)) - 1]
        # A fresh response over the same raw (still compressed) bytes for each request.
        return httpx.Response(r.status_code, headers=r.headers, stream=r.stream)

    return handler, seen


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


# --- size, compression, redirects -----------------------------------------------------


async def test_size_cap_stops_reading_a_huge_stream_early() -> None:
    class Endless(httpx.AsyncByteStream):
        chunks = 0
        closed = False

        async def __aiter__(self) -> AsyncIterator[bytes]:
            while True:
                Endless.chunks += 1
                yield b"x" * 4096

        async def aclose(self) -> None:
            Endless.closed = True

    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=Endless())

    policy = FetchPolicy(interval=0.0, max_bytes=10_000)
    async with make_fetcher(handler) as fetcher:
        result = await fetcher.fetch(get(), policy)
    assert result.status is Status.PARSE_ERROR
    assert result.reason == "response too large (> 10000 bytes)"
    assert result.attempts == 1  # retrying cannot make it smaller
    assert Endless.chunks == 3 and Endless.closed


async def test_size_cap_counts_decompressed_bytes() -> None:
    bomb = gzip.compress(b"\0" * 1_000_000)
    handler, _ = sequence(httpx.Response(200, content=bomb, headers={"Content-Encoding": "gzip"}))
    async with make_fetcher(handler) as fetcher:
        result = await fetcher.fetch(get(), FetchPolicy(interval=0.0, max_bytes=100_000))
    assert len(bomb) < 100_000
    assert result.status is Status.PARSE_ERROR and "too large" in (result.reason or "")


async def test_gzip_body_is_decompressed() -> None:
    body = '{"title": "天安门"}'.encode()
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    handler, seen = sequence(httpx.Response(200, content=gzip.compress(body), headers=headers))
    async with make_fetcher(handler) as fetcher:
        result = await fetcher.fetch(get(), FAST)
    assert result.response is not None
    assert result.response.content == body
    assert result.response.json() == {"title": "天安门"}
    assert "content-encoding" not in result.response.headers
    assert "gzip" in seen[0].headers["Accept-Encoding"]


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


# --- encodings ------------------------------------------------------------------------

# 镕 is in GBK/GB18030 but not in GB2312: a strict GB2312 decoder mangles it.
CHINESE = "朱镕基 图片 搜索"


@pytest.mark.parametrize(
    ("content_type", "head"),
    [
        ("text/html", '<meta charset="gb2312">'),
        ("text/html", '<meta http-equiv="Content-Type" content="text/html; charset=GBK">'),
        (None, "<meta charset=gbk>"),
        ("text/html; charset=GBK", ""),
        ("text/html; charset=gb2312", '<meta charset="utf-8">'),  # the header wins
    ],
)
async def test_gbk_pages_decode_correctly(content_type: str | None, head: str) -> None:
    page = f"<html><head>{head}<title>{CHINESE}</title></head></html>"
    headers = {"Content-Type": content_type} if content_type else {}
    body = page.encode("gb18030")
    handler, _ = sequence(httpx.Response(200, content=body, headers=headers))
    async with make_fetcher(handler) as fetcher:
        result = await fetcher.fetch(get(), FAST)
    assert result.response is not None
    assert result.response.encoding == "gb18030"
    assert CHINESE in result.response.text


def test_encoding_defaults_to_utf8_and_ignores_meta_inside_json() -> None:
    assert choose_encoding(None, "<p>没有</p>".encode()) == "utf-8"
    assert choose_encoding("application/json", b'{"html": "<meta charset=gbk>"}') == "utf-8"
    assert choose_encoding("text/html", b"\xef\xbb\xbf<html>") == "utf-8-sig"
    assert choose_encoding("text/xml", b'<?xml version="1.0" encoding="GB2312"?>') == "gb18030"


# --- politeness and concurrency -------------------------------------------------------


async def test_requests_to_one_host_are_spaced_by_the_interval() -> None:
    time = FakeTime()
    sent_at: list[float] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        sent_at.append(time.now)
        return httpx.Response(200)

    policy = FetchPolicy(interval=5.0, concurrency=4)
    async with make_fetcher(handler, time) as fetcher:
        for i in range(4):
            assert (await fetcher.fetch(get(f"https://engine.test/{i}"), policy)).ok
    assert [t - sent_at[0] for t in sent_at] == [0.0, 5.0, 10.0, 15.0]


async def test_jitter_only_lengthens_the_gap() -> None:
    time = FakeTime(advance=False)
    limiter = HostLimiter(
        5.0, 1, sleep=time.sleep, monotonic=time.monotonic, rng=random.Random(7), jitter=0.25
    )
    for _ in range(20):
        async with limiter.slot():
            pass
    gaps = [b - a for a, b in zip([0.0, *time.sleeps], time.sleeps, strict=False)]
    assert all(5.0 <= g <= 6.25 for g in gaps)
    assert len(set(gaps)) > 1  # there is jitter


async def test_two_hosts_are_not_serialized() -> None:
    time = FakeTime(advance=False)  # every sleep is then the wait its slot was given

    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200)

    policy = FetchPolicy(interval=5.0, concurrency=4)
    urls = [f"https://{host}.test/{i}" for host in ("a", "b") for i in range(3)]
    async with make_fetcher(handler, time) as fetcher:
        results = await asyncio.gather(*(fetcher.fetch(get(u), policy) for u in urls))
    assert all(r.ok for r in results)
    assert sorted(time.sleeps) == [5.0, 5.0, 10.0, 10.0]  # serialized would reach 25s


async def test_retries_take_the_hosts_rate_slots() -> None:
    time = FakeTime()
    sent_at: list[float] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        sent_at.append(time.now)
        return httpx.Response(500 if len(sent_at) < 3 else 200)

    async with make_fetcher(handler, time) as fetcher:
        assert (await fetcher.fetch(get(), FetchPolicy(interval=5.0))).ok
    gaps = [b - a for a, b in itertools.pairwise(sent_at)]
    assert all(g >= 5.0 for g in gaps)


async def test_a_hanging_host_does_not_delay_another_host() -> None:
    hang = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "slow.test":
            await hang.wait()  # never set
        return httpx.Response(200, text="fast")

    policy = FetchPolicy(interval=5.0, concurrency=1, retries=0)
    async with Fetcher(transport=httpx.MockTransport(handler)) as fetcher:
        stuck = [
            asyncio.create_task(fetcher.fetch(get(f"https://slow.test/{i}"), policy))
            for i in range(3)
        ]
        await asyncio.sleep(0)
        result = await asyncio.wait_for(fetcher.fetch(get("https://quick.test/"), policy), 1.0)
        assert result.ok and not any(t.done() for t in stuck)
        for t in stuck:
            t.cancel()
        await asyncio.gather(*stuck, return_exceptions=True)


# --- headers, cookies, proxies, logs --------------------------------------------------


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


def test_policy_from_options_converts_units() -> None:
    opts = SourceOptions(kind="fake", rate="2/10s", timeout="30s", max_bytes=5000, retries=1)
    policy = FetchPolicy.from_options(opts)
    assert (policy.interval, policy.timeout, policy.connect_timeout) == (5.0, 30.0, 10.0)
    assert (policy.max_bytes, policy.retries, policy.concurrency) == (5000, 1, 1)


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


def test_mask_url_hides_query_secrets_and_passwords() -> None:
    masked = mask_url("socks5://user:pw@proxy.test:1080/?api_key=k1&q=ok")
    assert masked == "socks5://user:***@proxy.test:1080/?api_key=***&q=ok"


def test_network_reason_reads_the_os_error_underneath() -> None:
    def chained(outer: Exception, inner: BaseException) -> Exception:
        outer.__cause__ = inner
        return outer

    refused = chained(
        httpx.ConnectError("All connection attempts failed"), ConnectionRefusedError()
    )
    dns = chained(httpx.ConnectError("lookup"), socket.gaierror(-2, "Name or service not known"))
    assert network_reason(refused) == "connection refused"
    assert network_reason(dns) == "DNS lookup failed"
    assert network_reason(httpx.RemoteProtocolError("peer closed")) == (
        "RemoteProtocolError: peer closed"
    )


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
