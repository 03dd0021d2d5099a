"""GDELT's 429 is load shedding: the host rests at least ``throttle_wait`` (10 s), gets one
retry, and then the check is ``blocked``; never a fast retry, never the full ``retries``.

Through ``run_check`` with the real GDELT source on ``MockTransport``; time is a fake clock
that moves only when the fetcher sleeps, so every rest is measured exactly.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from monitor.check import run_check
from monitor.core.observation import Status
from monitor.fetch.policy import FetchPolicy
from monitor.sources.base import Source
from tests.helpers.fetch import FakeTime, make_fetcher
from tests.helpers.golden import make_source

FIX = Path(__file__).parent / "fixtures" / "sources" / "gdelt"
RATE_LIMITED = (FIX / "gdelt-doc-error-rate-limited.txt").read_bytes()
ARTLIST = (FIX / "gdelt-doc-artlist-climate-maxrecords250.json").read_bytes()


class Gdelt:
    """Answers from a script (the last entry repeats) and notes the fake time of each call."""

    def __init__(self, time: FakeTime, *answers: httpx.Response) -> None:
        self.time = time
        self.answers = answers
        self.at: list[float] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.at.append(self.time.now)
        r = self.answers[min(len(self.at), len(self.answers)) - 1]
        return httpx.Response(r.status_code, headers=r.headers, content=r.content)

    def gaps(self) -> list[float]:
        return [b - a for a, b in zip(self.at, self.at[1:], strict=False)]


def shed(**headers: str) -> httpx.Response:
    return httpx.Response(
        429, content=RATE_LIMITED, headers={"content-type": "text/html", **headers}
    )


def gdelt() -> tuple[Source, FetchPolicy]:
    source = make_source("gdelt")  # the shipped defaults: 1/5s, throttle 1 retry after 10 s
    assert source.options.retries == 2  # more than the one retry a 429 gets
    return source, FetchPolicy.from_options(source.options)


async def test_persistent_429_rests_the_host_10s_retries_once_then_is_blocked() -> None:
    time = FakeTime()
    engine = Gdelt(time, shed())
    source, policy = gdelt()
    async with make_fetcher(engine, time) as fetcher:
        result = await run_check(source, "climate", fetcher, policy=policy)
        assert result.status is Status.BLOCKED and result.items == []
        assert result.reason is not None and result.reason.startswith("GDELT rate limit:")
        assert len(engine.at) == 2  # one polite retry, not ``retries`` (2) of them
        assert engine.gaps() == [10.0]  # the rest, not the 5 s interval nor a fast backoff
        # The host keeps resting after the last 429: the next check waits its 10 s too.
        engine.answers = (httpx.Response(200, content=ARTLIST),)
        after = await run_check(source, "climate", fetcher, policy=policy)
    assert after.status is Status.OK
    assert engine.gaps()[-1] >= 10.0


async def test_429_then_an_answer_is_ok_after_the_rest() -> None:
    time = FakeTime()
    engine = Gdelt(time, shed(), httpx.Response(200, content=ARTLIST))
    source, policy = gdelt()
    async with make_fetcher(engine, time) as fetcher:
        result = await run_check(source, "climate", fetcher, policy=policy)
    assert result.status is Status.OK and len(result.items) > 0
    assert engine.gaps() == [10.0]


async def test_a_longer_retry_after_is_honoured_over_the_10s_floor() -> None:
    time = FakeTime()
    engine = Gdelt(time, shed(**{"Retry-After": "30"}))
    source, policy = gdelt()
    async with make_fetcher(engine, time) as fetcher:
        result = await run_check(source, "climate", fetcher, policy=policy)
    assert result.status is Status.BLOCKED
    assert engine.gaps() == [30.0]
