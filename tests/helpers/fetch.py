"""A ``Fetcher`` on ``httpx.MockTransport`` with plain router functions, for the fetch tests.

Time never passes for real: ``FakeTime`` records sleeps (and advances a fake monotonic
clock where the test needs one), and ``LowJitter`` pins the random jitter and backoff to
their lower bound, so every wait a test asserts is exact.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime

import httpx

from monitor.fetch.client import Fetcher, FetchPolicy

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
