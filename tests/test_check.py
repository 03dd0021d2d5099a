"""``run_check``: pages, statuses, and never a zero that was not observed.

The source is a tiny fake whose ``parse`` plays back a script, one entry per page: a
``PageResult`` to return or an exception to raise. HTTP goes through ``MockTransport``.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable, Coroutine
from typing import ClassVar
from urllib.parse import urljoin

import httpx
import lxml.etree
import pytest

from monitor.check import run_check
from monitor.core.errors import Blocked, ParseError
from monitor.core.observation import ImageItem, PageResult, Status
from monitor.fetch.client import Fetcher
from monitor.sources.base import Source, SourceOptions

Handler = Callable[[httpx.Request], Coroutine[None, None, httpx.Response]]
Script = list[PageResult | Exception]


class FakeSource(Source):
    """Requests ``https://fake.test/search?q=<term>&page=<n>``; parses by script."""

    kind: ClassVar[str] = "fake"

    def __init__(self, script: Script, *, warmup: bool = False, **options: object) -> None:
        super().__init__("fake-source", SourceOptions(kind="fake", **options))
        self.script = script
        self.warmup = warmup
        self.parsed_pages: list[int] = []

    def warmup_request(self) -> httpx.Request | None:
        return httpx.Request("GET", "https://fake.test/") if self.warmup else None

    def build_request(self, term: str, page: int) -> httpx.Request:
        return httpx.Request("GET", "https://fake.test/search", params={"q": term, "page": page})

    def parse(self, response: httpx.Response, page: int) -> PageResult:
        self.parsed_pages.append(page)
        step = self.script[page]
        if isinstance(step, Exception):
            raise step
        return step


class Clock:
    """Fake monotonic time that moves only when the fetcher sleeps."""

    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


def items(page: int, n: int = 2) -> tuple[ImageItem, ...]:
    return tuple(
        ImageItem(f"https://img.test/{page}/{i}.jpg", page_url=f"https://site{i}.test/")
        for i in range(n)
    )


def fetcher_for(handler: Handler, clock: Clock | None = None) -> Fetcher:
    clock = clock or Clock()
    return Fetcher(
        transport=httpx.MockTransport(handler),
        sleep=clock.sleep,
        monotonic=clock,
        rng=random.Random(1),
    )


async def ok_handler(request: httpx.Request) -> httpx.Response:
    page = request.url.params.get("page", "home")
    return httpx.Response(200, text=f"page {page}", headers={"Content-Type": "text/plain"})


async def test_pages_accumulate_until_a_page_has_no_more() -> None:
    source = FakeSource(
        [
            PageResult(items(0), reported_total=332_000, has_more=True),
            PageResult(items(1), reported_total=1, has_more=True),
            PageResult(items(2, 1), has_more=False),
        ],
        max_pages=5,
    )
    async with fetcher_for(ok_handler) as fetcher:
        obs = await run_check(source, "term", fetcher)
    assert obs.status is Status.OK and obs.reason is None
    assert obs.pages == 3 and source.parsed_pages == [0, 1, 2]
    assert len(obs.items) == 5 and obs.image_count == 5
    assert obs.reported_total == 332_000  # from page 0, not from later pages
    assert obs.http_status == 200
    assert obs.raw == b"page 2" and obs.raw_content_type == "text/plain"


async def test_max_pages_caps_the_pages_read() -> None:
    source = FakeSource([PageResult(items(p), has_more=True) for p in range(5)], max_pages=2)
    async with fetcher_for(ok_handler) as fetcher:
        obs = await run_check(source, "term", fetcher)
    assert obs.status is Status.OK and obs.pages == 2 and len(obs.items) == 4


async def test_http_failure_on_page_two_fails_the_whole_check() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.params["page"] == "1":
            return httpx.Response(500, text="oops")
        return httpx.Response(200, text="fine")

    source = FakeSource([PageResult(items(p), has_more=True) for p in range(3)], max_pages=3)
    async with fetcher_for(handler) as fetcher:
        obs = await run_check(source, "term", fetcher)
    assert obs.status is Status.HTTP_ERROR
    assert obs.reason == "HTTP 500 Internal Server Error (3 attempts)"
    assert obs.items == [] and obs.image_count is None and obs.reported_total is None
    assert obs.pages == 2 and obs.http_status == 500 and obs.raw == b"oops"


async def test_network_failure_on_page_two_keeps_no_stale_evidence() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.params["page"] == "1":
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        return httpx.Response(200, text="page 0")

    source = FakeSource([PageResult(items(p), has_more=True) for p in range(2)], max_pages=2)
    async with fetcher_for(handler) as fetcher:
        obs = await run_check(source, "term", fetcher)
    assert obs.status is Status.NETWORK_ERROR and obs.reason == "connection refused (3 attempts)"
    assert obs.image_count is None and obs.raw is None and obs.http_status is None


async def test_block_page_on_page_two_fails_the_whole_check() -> None:
    source = FakeSource(
        [PageResult(items(0), has_more=True), Blocked("captcha page (百度安全验证)")], max_pages=2
    )
    async with fetcher_for(ok_handler) as fetcher:
        obs = await run_check(source, "term", fetcher)
    assert obs.status is Status.BLOCKED and obs.reason == "captcha page (百度安全验证)"
    assert obs.image_count is None and obs.raw == b"page 1"


async def test_parse_error_is_parse_error() -> None:
    source = FakeSource([ParseError("imgData not found")])
    async with fetcher_for(ok_handler) as fetcher:
        obs = await run_check(source, "term", fetcher)
    assert obs.status is Status.PARSE_ERROR and obs.reason == "imgData not found"
    assert obs.image_count is None


async def test_parser_bug_is_parse_error_never_zero(caplog: pytest.LogCaptureFixture) -> None:
    source = FakeSource([KeyError("objURL")])
    async with fetcher_for(ok_handler) as fetcher:
        obs = await run_check(source, "term", fetcher)
    assert obs.status is Status.PARSE_ERROR
    assert obs.reason == "parse raised KeyError: 'objURL'"
    assert obs.image_count is None and obs.domain_count is None
    assert any(r.exc_info for r in caplog.records if r.name == "monitor.check")


async def test_no_results_only_when_the_parser_says_so() -> None:
    said = FakeSource([PageResult((), no_results=True)])
    silent = FakeSource([PageResult(())])
    async with fetcher_for(ok_handler) as fetcher:
        positive = await run_check(said, "term", fetcher)
        unrecognised = await run_check(silent, "term", fetcher)
    assert positive.status is Status.NO_RESULTS and positive.image_count == 0
    assert unrecognised.status is Status.PARSE_ERROR
    assert unrecognised.reason == "no items found and no recognised no-results answer"
    assert unrecognised.image_count is None


async def test_no_results_with_items_is_a_parse_error() -> None:
    source = FakeSource([PageResult(items(0), no_results=True)])
    async with fetcher_for(ok_handler) as fetcher:
        obs = await run_check(source, "term", fetcher)
    assert obs.status is Status.PARSE_ERROR and obs.image_count is None


async def test_an_empty_later_page_ends_an_ok_check() -> None:
    source = FakeSource(
        [PageResult(items(0), has_more=True), PageResult((), no_results=True)], max_pages=3
    )
    async with fetcher_for(ok_handler) as fetcher:
        obs = await run_check(source, "term", fetcher)
    assert obs.status is Status.OK and obs.pages == 2 and obs.image_count == 2


async def test_fetch_403_is_blocked_without_calling_the_parser() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, text="forbidden")

    source = FakeSource([PageResult(items(0))])
    async with fetcher_for(handler) as fetcher:
        obs = await run_check(source, "term", fetcher)
    assert obs.status is Status.BLOCKED and obs.reason == "HTTP 403 Forbidden"
    assert source.parsed_pages == [] and obs.raw == b"forbidden"


async def test_warmup_is_sent_once_per_source_name() -> None:
    paths: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        return await ok_handler(request)

    async with fetcher_for(handler) as fetcher:
        checks = [
            run_check(FakeSource([PageResult(items(0))], warmup=True), f"t{i}", fetcher)
            for i in range(4)
        ]
        observations = await asyncio.gather(*checks)
    assert all(o.status is Status.OK for o in observations)
    assert paths.count("/") == 1 and paths[0] == "/"  # first, before any query
    assert paths.count("/search") == 4


async def test_elapsed_leaves_out_queueing_for_the_host() -> None:
    clock = Clock()
    source = FakeSource([PageResult(items(0))], rate="1/10s")
    async with fetcher_for(ok_handler, clock) as fetcher:
        await run_check(source, "first", fetcher, monotonic=clock)
        before = clock.now
        obs = await run_check(source, "second", fetcher, monotonic=clock)
    assert clock.now - before >= 10.0  # it did wait for its slot...
    assert obs.elapsed_ms == 0  # ...but that wait is not the engine's response time


@pytest.mark.parametrize("bad", ["https://a:abc/x", "https://a:99999/x", "http://[x"])
async def test_an_unparseable_image_url_is_skipped_and_counted(bad: str) -> None:
    page = (*items(0), ImageItem(bad))
    source = FakeSource([PageResult(page, reported_total=10)])
    async with fetcher_for(ok_handler) as fetcher:
        obs = await run_check(source, "term", fetcher)
    assert obs.status is Status.OK
    assert obs.image_count == 2 and obs.reported_total == 10
    assert obs.reason == "skipped 1 item(s) with an unparseable URL"


async def test_a_page_of_only_unparseable_urls_is_a_parse_error_with_its_reason() -> None:
    source = FakeSource([PageResult((ImageItem("http://[x"),))])
    async with fetcher_for(ok_handler) as fetcher:
        obs = await run_check(source, "term", fetcher)
    assert obs.status is Status.PARSE_ERROR and obs.image_count is None
    assert obs.reason == "all 1 item(s) on the page have an unparseable URL"


@pytest.mark.parametrize(
    ("total", "why"),
    [(10**29, "above 2^53"), (-5, "negative"), (10**5000, "above 2^53")],
    ids=["1e29", "negative", "5000-digits"],
)
async def test_a_reported_total_out_of_range_is_dropped_with_a_reason(total: int, why: str) -> None:
    source = FakeSource([PageResult(items(0), reported_total=total)])
    async with fetcher_for(ok_handler) as fetcher:
        obs = await run_check(source, "term", fetcher)
    assert obs.status is Status.OK and obs.image_count == 2
    assert obs.reported_total is None
    assert obs.reason == f"reported total {why}, dropped"


def _raised(fn: Callable[[], object]) -> Exception:
    try:
        fn()
    except Exception as exc:
        return exc
    raise AssertionError("expected an exception")


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: json.loads("[" * 100_000), "input nested too deeply (JSON or markup)"),
        (lambda: int("9" * 5000), "number too long (over 4300 digits)"),
        (lambda: urljoin("http://[x", "/a"), "unparseable URL in the answer"),
        (lambda: lxml.etree.fromstring("<p>a\x00b</p>"), "NUL byte in the answer"),
    ],
    ids=["deep-json", "long-int", "ipv6-bracket", "nul-byte"],
)
async def test_a_hostile_input_failure_names_the_problem_without_a_traceback(
    make: Callable[[], object], reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    source = FakeSource([_raised(make)])
    async with fetcher_for(ok_handler) as fetcher:
        obs = await run_check(source, "term", fetcher)
    assert obs.status is Status.PARSE_ERROR and obs.image_count is None
    assert obs.reason == f"parse: {reason}"
    ours = [r for r in caplog.records if r.name == "monitor.check"]
    assert ours and all(r.levelname == "WARNING" and not r.exc_info for r in ours)
