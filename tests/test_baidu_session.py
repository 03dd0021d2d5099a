"""Baidu's session cookies through ``run_check``: warmed up first, renewed when they age and
after an ``antiFlag`` answer, once per check, then ``blocked`` (never a loop).

What current public code shows (SearXNG ``searx/engines/baidu.py`` at b084194c, June 2026):
``acjson`` answers ``antiFlag:1`` without the cookies of ``image.baidu.com/``; they are
kept an hour. The engine here is a ``MockTransport`` router that hands out numbered session
cookies and refuses the ones it considers stale; time is fake.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from monitor.check import run_check
from monitor.core.observation import Observation, Status
from monitor.fetch.client import Fetcher
from monitor.fetch.policy import FetchPolicy
from monitor.sources.base import Source
from tests.helpers.fetch import FakeTime, make_fetcher
from tests.helpers.golden import make_source

FIX = Path(__file__).parent / "fixtures" / "sources" / "baidu_images"
RESULTS = (FIX / "acjson-results.json").read_bytes()
ANTIFLAG = (FIX / "acjson-antiflag-1.json").read_bytes()


class Engine:
    """Hands out ``BAIDUID=s<n>`` on ``/``; ``acjson`` answers results for a live session
    and ``antiFlag`` for none, an unknown one, or one in ``stale``."""

    def __init__(self, *, gives_cookies: bool = True) -> None:
        self.gives_cookies = gives_cookies
        self.issued = 0
        self.stale: set[str] = set()
        self.log: list[tuple[str, str]] = []  # (path, Cookie header)

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        cookie = request.headers.get("cookie", "")
        self.log.append((request.url.path, cookie))
        if request.url.path == "/":
            if not self.gives_cookies:
                return httpx.Response(200, text="<html>home</html>")
            self.issued += 1
            headers = {"Set-Cookie": f"BAIDUID=s{self.issued}; Path=/; Domain=.baidu.com"}
            return httpx.Response(200, text="<html>home</html>", headers=headers)
        session = cookie.removeprefix("BAIDUID=")
        if not session or session in self.stale:
            return httpx.Response(200, content=ANTIFLAG, headers={"content-type": "text/plain"})
        return httpx.Response(200, content=RESULTS, headers={"content-type": "text/plain"})

    def homes(self) -> int:
        return sum(1 for path, _ in self.log if path == "/")


def baidu(**options: object) -> tuple[Source, FetchPolicy]:
    source = make_source("baidu_images", "baidu", rate="100/1s", retries=0, **options)
    return source, FetchPolicy.from_options(source.options)


async def check(source: Source, fetcher: Fetcher, policy: FetchPolicy) -> Observation:
    return await run_check(source, "折线图", fetcher, policy=policy)


async def test_acjson_is_asked_with_the_cookies_of_a_home_page_warm_up() -> None:
    engine = Engine()
    source, policy = baidu()
    async with make_fetcher(engine) as fetcher:
        first = await check(source, fetcher, policy)
        second = await check(source, fetcher, policy)
    assert first.status is Status.OK and second.status is Status.OK
    home, acjson = ("/", ""), ("/search/acjson", "BAIDUID=s1")
    assert engine.log == [home, acjson, acjson]


async def test_cookies_older_than_session_max_age_are_fetched_again_without_the_old_ones() -> (
    None
):
    engine = Engine()
    time = FakeTime()
    source, policy = baidu()  # the default: one hour, as SearXNG keeps them
    async with make_fetcher(engine, time) as fetcher:
        await check(source, fetcher, policy)
        time.now += 3599
        await check(source, fetcher, policy)
        assert engine.homes() == 1
        time.now += 2
        renewed = await check(source, fetcher, policy)
    assert renewed.status is Status.OK
    # The stale cookie is not sent to the warm-up (it would only get the old session back).
    assert engine.log[-2:] == [("/", ""), ("/search/acjson", "BAIDUID=s2")]


async def test_session_max_age_is_configurable() -> None:
    engine = Engine()
    time = FakeTime()
    source, policy = baidu(session_max_age="10m")
    async with make_fetcher(engine, time) as fetcher:
        await check(source, fetcher, policy)
        time.now += 601
        await check(source, fetcher, policy)
    assert engine.homes() == 2


async def test_antiflag_answer_renews_the_session_once_and_asks_again() -> None:
    engine = Engine()
    source, policy = baidu()
    async with make_fetcher(engine) as fetcher:
        await check(source, fetcher, policy)
        engine.stale.add("s1")  # Baidu stops honouring the session before the hour is up
        result = await check(source, fetcher, policy)
    assert result.status is Status.OK and result.reported_total == 116812
    assert engine.log[2:] == [
        ("/search/acjson", "BAIDUID=s1"),
        ("/", ""),
        ("/search/acjson", "BAIDUID=s2"),
    ]


async def test_engine_that_never_gives_a_cookie_is_blocked_after_one_renewal() -> None:
    engine = Engine(gives_cookies=False)
    time = FakeTime()
    source, policy = baidu()
    async with make_fetcher(engine, time, warmup_retry_after=600.0) as fetcher:
        first = await check(source, fetcher, policy)
        assert [path for path, _ in engine.log] == ["/", "/search/acjson", "/", "/search/acjson"]
        # The renewal was futile: the next checks ask once and are blocked, no warm-up.
        later = [await check(source, fetcher, policy) for _ in range(3)]
        assert len(engine.log) == 4 + 3
        time.now += 601  # after a rest, one check may try a fresh session again
        rested = await check(source, fetcher, policy)
    assert first.status is Status.BLOCKED and first.items == []
    assert first.reason == (
        "antiFlag=1: Forbid spider access (refused again after a fresh warm-up)"
    )
    assert all(o.status is Status.BLOCKED for o in later)
    assert all("not renewed" in (o.reason or "") for o in later)
    assert rested.status is Status.BLOCKED
    assert [path for path, _ in engine.log[7:]] == ["/search/acjson", "/", "/search/acjson"]


async def test_checks_refused_together_share_one_renewal() -> None:
    engine = Engine()
    source, policy = baidu(concurrency=4)
    async with make_fetcher(engine) as fetcher:
        await check(source, fetcher, policy)
        engine.stale.add("s1")
        results = await asyncio.gather(*(check(source, fetcher, policy) for _ in range(4)))
    assert [r.status for r in results] == [Status.OK] * 4
    assert engine.homes() == 2  # the first warm-up and one renewal, not one per check


async def test_captcha_redirect_is_blocked_without_a_renewal() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.host + request.url.path)
        if request.url.path == "/search/acjson":
            target = "https://wappass.baidu.com/static/captcha/tuxing.html?ak=1"
            return httpx.Response(302, headers={"Location": target})
        return httpx.Response(200, text="<html></html>")

    seen: list[str] = []
    source, policy = baidu()
    async with make_fetcher(handler) as fetcher:
        result = await check(source, fetcher, policy)
    assert result.status is Status.BLOCKED and "wappass.baidu.com" in (result.reason or "")
    assert seen == [
        "image.baidu.com/",
        "image.baidu.com/search/acjson",
        "wappass.baidu.com/static/captcha/tuxing.html",
    ]


async def test_checks_refused_together_do_not_reuse_a_renewal_that_failed() -> None:
    engine = Engine(gives_cookies=False)
    source, policy = baidu(concurrency=4)
    async with make_fetcher(engine) as fetcher:
        results = await asyncio.gather(*(check(source, fetcher, policy) for _ in range(4)))
    assert [r.status for r in results] == [Status.BLOCKED] * 4
    # One warm-up, one renewal tried by the first refused check; the others waited for its
    # answer and asked nothing more.
    assert [path for path, _ in engine.log].count("/") == 2
    assert [path for path, _ in engine.log].count("/search/acjson") == 4 + 1
