"""The parse pool: worker processes with a CPU-time and memory budget per response.

Real worker processes (``python -m monitor.check.worker``), hence ``e2e``. Each test makes
its own pool and closes it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import httpx
import pytest

from monitor.check import TOO_COMPLEX, ParsePool, run_check
from monitor.core.observation import Status
from tests.helpers.fetch import make_fetcher
from tests.helpers.parsers import (
    SLOW_ITEM,
    BuggySource,
    html_response,
    html_source,
    result_page,
    wide_page,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
async def pool() -> AsyncIterator[ParsePool]:
    pool = ParsePool(2)
    try:
        yield pool
    finally:
        pool.close()


async def test_a_page_parses_in_a_worker_as_it_does_inline(pool: ParsePool) -> None:
    source = html_source()
    response = html_response(result_page(3))
    parsed = await pool.parse(source, response, 0)
    assert parsed.result is not None
    assert parsed.result == source.parse(response, 0)


async def test_a_page_over_its_cpu_budget_is_too_complex_and_the_worker_replaced(
    pool: ParsePool,
) -> None:
    source = html_source(parse_cpu="1s", item=SLOW_ITEM)
    parsed = await pool.parse(source, html_response(wide_page(400_000)), 0)
    assert parsed.result is None and parsed.status is Status.PARSE_ERROR
    assert parsed.reason == f"{TOO_COMPLEX} (over its 1s CPU budget)"
    assert pool.replaced == 1
    again = await pool.parse(source, html_response(result_page(2)), 0)
    assert again.result is not None and len(again.result.items) == 2


async def test_a_page_over_its_memory_budget_is_too_complex(pool: ParsePool) -> None:
    source = html_source(parse_cpu="60s", parse_memory=64_000_000)
    parsed = await pool.parse(source, html_response(wide_page(4_000_000)), 0)
    assert parsed.result is None and parsed.status is Status.PARSE_ERROR
    assert parsed.reason == f"{TOO_COMPLEX} (over its memory budget)"


async def test_a_slow_page_does_not_hold_back_another_page(pool: ParsePool) -> None:
    await asyncio.gather(
        *(pool.parse(html_source(), html_response(result_page()), 0) for _ in "ab")
    )
    slow = asyncio.ensure_future(
        pool.parse(
            html_source(parse_cpu="1s", item=SLOW_ITEM), html_response(wide_page(400_000)), 0
        )
    )
    await asyncio.sleep(0.2)  # the slow page is in a worker now
    quick = await pool.parse(html_source(), html_response(result_page()), 0)
    assert not slow.done()
    assert quick.result is not None
    assert (await slow).reason == f"{TOO_COMPLEX} (over its 1s CPU budget)"


async def test_a_worker_that_died_idle_is_replaced(pool: ParsePool) -> None:
    source = html_source()
    await pool.parse(source, html_response(result_page()), 0)
    for worker in pool._idle:
        if worker is not None:
            worker.process.kill()
            worker.process.wait()
    parsed = await pool.parse(source, html_response(result_page()), 0)
    assert parsed.result is not None
    assert pool.replaced == 1


async def test_a_parser_bug_in_a_worker_is_logged_with_its_traceback(
    pool: ParsePool, caplog: pytest.LogCaptureFixture
) -> None:
    async def engine(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=result_page())

    async with make_fetcher(engine) as fetcher:
        obs = await run_check(BuggySource(), "term", fetcher, parser=pool)
    assert obs.status is Status.PARSE_ERROR and obs.reason == "parse raised KeyError: 'objURL'"
    bugs = [r for r in caplog.records if r.name == "monitor.check" and r.levelno == logging.ERROR]
    assert bugs and bugs[0].exc_info is not None
    assert "KeyError: 'objURL'" in caplog.text and "in parse" in caplog.text


async def test_ordinary_pages_arriving_together_share_one_worker(pool: ParsePool) -> None:
    source = html_source()
    parsed = await asyncio.gather(
        *(pool.parse(source, html_response(result_page(2)), 0) for _ in range(8))
    )
    assert all(p.result is not None for p in parsed)
    assert pool.running == 1 and len(pool.usage()) == 1


async def test_a_spare_worker_serves_others_behind_a_slow_page_and_stops_after(
    pool: ParsePool,
) -> None:
    await pool.parse(html_source(), html_response(result_page()), 0)
    slow = asyncio.ensure_future(
        pool.parse(
            html_source(parse_cpu="1s", item=SLOW_ITEM), html_response(wide_page(400_000)), 0
        )
    )
    await asyncio.sleep(0.2)  # the slow page holds the only worker now
    quick = await pool.parse(html_source(), html_response(result_page()), 0)
    assert quick.result is not None and not slow.done()
    assert pool.running == 2
    assert (await slow).reason == f"{TOO_COMPLEX} (over its 1s CPU budget)"
    assert pool.running == 1  # the slow page's worker is gone, the spare not replaced
    again = await pool.parse(html_source(), html_response(result_page()), 0)
    assert again.result is not None and pool.running == 1


async def test_one_source_s_slow_pages_hold_one_worker_and_others_get_the_spare(
    pool: ParsePool,
) -> None:
    # A hostile engine with concurrency 2: before, its two pages took both workers and the
    # other engine's pages waited for one of them (7.5 s in bench.fault_engines).
    hostile = html_source("hostile", parse_cpu="3s", item=SLOW_ITEM)
    slow = [
        asyncio.ensure_future(pool.parse(hostile, html_response(wide_page(400_000)), 0))
        for _ in "ab"
    ]
    await asyncio.sleep(0.2)  # the first slow page holds the only worker; the second waits
    quick = await pool.parse(html_source(), html_response(result_page()), 0)
    assert quick.result is not None
    assert not any(s.done() for s in slow)  # served while both slow pages were pending
    assert pool.running == 2
    reasons = [(await s).reason for s in slow]
    assert reasons == [f"{TOO_COMPLEX} (over its 3s CPU budget)"] * 2
