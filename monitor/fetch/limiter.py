"""Politeness for one host: at most ``concurrency`` requests in flight and consecutive
request starts spaced by at least the rate's interval, plus jitter; ``Retry-After`` pushes
every later request to the host back. The fetcher keeps the state of at most ``MAX_HOSTS``
hosts (``core.lru``); a host that leaves takes its cookies with it (``forget``)."""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from http.cookiejar import CookieJar

from monitor.fetch.policy import Monotonic, Sleep

MAX_HOSTS = 1024  # hosts whose limiter, warm-up mark and cookies the fetcher remembers


def forget(jars: Iterable[CookieJar], host: str) -> None:
    """Drop the cookies of ``host`` (``name[:port]``) from ``jars``."""
    name = host.rsplit(":", 1)[0]
    for jar in jars:
        for cookie in [c for c in jar if c.domain.lstrip(".") == name]:
            jar.clear(cookie.domain, cookie.path, cookie.name)


class HostLimiter:
    """Politeness for one host: ``concurrency`` requests in flight, starts spaced out.

    A request reserves the next free start time and then sleeps until it; reserving is
    done without awaiting, so concurrent callers always get distinct, spaced slots.
    Jitter only ever lengthens the gap, so the configured rate is never exceeded.
    ``defer`` pushes the next start back when the server asks us to slow down
    (``Retry-After``): every request to the host waits, not only the one that was told.
    """

    def __init__(
        self,
        interval: float,
        concurrency: int,
        *,
        sleep: Sleep,
        monotonic: Monotonic,
        rng: random.Random,
        jitter: float = 0.25,
    ) -> None:
        self.interval = interval
        self.concurrency = concurrency
        self._semaphore = asyncio.Semaphore(concurrency)
        self._next_start = -math.inf
        self._deferred = 0  # how many times the host asked us to wait
        self._sleep = sleep
        self._monotonic = monotonic
        self._rng = rng
        self._jitter = jitter

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[float]:
        """Hold one of the host's request slots; yields the seconds spent waiting for it."""
        async with self._semaphore:
            waited = 0.0
            while True:
                now = self._monotonic()
                start = max(now, self._next_start)
                gap = self.interval * (1.0 + self._rng.uniform(0.0, self._jitter))
                self._next_start = start + gap
                deferred = self._deferred
                if start > now:
                    await self._sleep(start - now)
                    waited += start - now
                if self._deferred == deferred:
                    break
                # The host said "Retry-After" while this request waited for its start:
                # it takes a start after the rest instead (its old one stays unused).
            yield waited

    def defer(self, seconds: float) -> None:
        """Start nothing on this host for ``seconds`` from now (requests already waiting
        for their start included)."""
        self._next_start = max(self._next_start, self._monotonic() + seconds)
        self._deferred += 1
