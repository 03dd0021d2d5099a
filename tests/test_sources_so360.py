"""360 through the fetcher: the cookie warm-up, paging from ``lastindex``, the empty answer."""

from __future__ import annotations

import json
from typing import Any

import httpx

from monitor.check import run_check
from monitor.core.observation import PageResult, Status
from monitor.fetch.policy import FetchPolicy
from tests.helpers.fetch import FakeTime, make_fetcher
from tests.helpers.golden import make_source


def answer(first: int, n: int, *, last: int, end: bool) -> dict[str, Any]:
    listed = [
        {"index": first + i, "img": f"https://img.test/{first + i}.jpg", "link": "https://a.test/"}
        for i in range(n)
    ]
    return {"total": 1500, "end": end, "lastindex": last, "list": listed}


def test_next_request_starts_after_lastindex_not_at_page_times_pn() -> None:
    source = make_source("so_images", pn=60)
    previous = PageResult((), has_more=True, next_offset=76)
    request = source.next_request("北京", 1, previous)
    assert (request.url.params["sn"], request.url.params["pn"]) == ("76", "60")


async def test_check_warms_a_cookie_once_within_the_hosts_budget_and_sends_it() -> None:
    seen: list[tuple[str, str | None]] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path, request.headers.get("cookie")))
        if request.url.path == "/":
            return httpx.Response(
                200, text="<html></html>", headers={"Set-Cookie": "__guid=g1; Path=/"}
            )
        return httpx.Response(200, json=answer(0, 2, last=1, end=True))

    time = FakeTime()
    policy = FetchPolicy(interval=5.0, retries=0)
    source = make_source("so_images")
    async with make_fetcher(handler, time) as fetcher:
        first = await run_check(source, "北京", fetcher, policy=policy)
        second = await run_check(source, "上海", fetcher, policy=policy)
    assert (first.status, second.status) == (Status.OK, Status.OK)
    assert seen == [("/", None), ("/j", "__guid=g1"), ("/j", "__guid=g1")]
    # The warm-up took one of the host's slots: each query waited its turn behind it.
    assert len(time.sleeps) == 2 and all(s >= 5.0 for s in time.sleeps)


async def test_check_pages_with_sn_from_the_answers_lastindex() -> None:
    asked: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/":
            return httpx.Response(200, text="<html></html>")
        sn = request.url.params["sn"]
        asked.append(sn)
        # 360 drops duplicates: the first page holds 50 items but ends at index 75.
        body = answer(0, 50, last=75, end=False) if sn == "0" else answer(76, 10, last=85, end=True)
        return httpx.Response(200, text=json.dumps(body))

    source = make_source("so_images", pn=60, max_pages=3)
    async with make_fetcher(handler, FakeTime()) as fetcher:
        obs = await run_check(source, "北京", fetcher, policy=FetchPolicy(interval=0.0, retries=0))
    assert (obs.status, obs.pages, asked, obs.image_count) == (Status.OK, 2, ["0", "76"], 60)


async def test_check_of_an_empty_answer_is_blocked_saying_why() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"")

    async with make_fetcher(handler, FakeTime()) as fetcher:
        obs = await run_check(
            make_source("so_images"), "北京", fetcher, policy=FetchPolicy(interval=0.0, retries=0)
        )
    assert (obs.status, obs.image_count) == (Status.BLOCKED, None)
    assert obs.reason is not None and "outside China" in obs.reason


async def test_a_skipped_unparseable_item_does_not_lose_where_the_next_page_starts() -> None:
    asked: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/":
            return httpx.Response(200, text="<html></html>")
        asked.append(request.url.params["sn"])
        if request.url.params["sn"] != "0":
            return httpx.Response(200, json=answer(76, 1, last=76, end=True))
        body = answer(0, 2, last=75, end=False)
        body["list"].append({"img": "https://a:99999/x.jpg"})
        return httpx.Response(200, json=body)

    source = make_source("so_images", max_pages=2)
    async with make_fetcher(handler, FakeTime()) as fetcher:
        obs = await run_check(source, "x", fetcher, policy=FetchPolicy(interval=0.0, retries=0))
    assert (obs.status, asked, obs.image_count) == (Status.OK, ["0", "76"], 3)
    assert obs.reason is not None and "skipped 1" in obs.reason


async def test_the_cookie_is_fetched_again_once_older_than_session_max_age() -> None:
    paths: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        return httpx.Response(200, json=answer(0, 1, last=0, end=True))

    time = FakeTime()
    source = make_source("so_images", session_max_age="1h")
    policy = FetchPolicy(interval=0.0, retries=0)
    async with make_fetcher(handler, time) as fetcher:
        await run_check(source, "x", fetcher, policy=policy)
        time.now += 3599
        await run_check(source, "x", fetcher, policy=policy)
        time.now += 2
        await run_check(source, "x", fetcher, policy=policy)
    assert paths == ["/", "/j", "/j", "/", "/j"]


def test_an_image_url_with_a_broken_ipv6_bracket_is_left_to_the_check_not_raised() -> None:
    # Found by bench.fuzz (100,000 inputs, seed 2026): an item without dspurl whose URLs do not
    # parse made the domain lookup raise ValueError out of parse.
    body = {
        "total": 2,
        "end": True,
        "list": [
            {"img": "http://[x/1.jpg", "link": "http://[x/page"},
            {"img": "https://img.test/2.jpg", "link": "https://a.test/"},
        ],
    }
    source = make_source("so_images")
    result = source.parse(httpx.Response(200, json=body), 0)
    assert [i.domain for i in result.items] == [None, "a.test"]
