"""What the fetcher is allowed to do to one host, and what it reports back.

- ``FetchPolicy``: a source's network options (rate, concurrency, timeouts, size cap,
  retries, proxy, headers), flattened into plain numbers once at start-up.
- ``FetchResult``: a complete response, or a failure carrying the ``Status`` the check
  will be stored with. A failure may still carry the response (a 403 page is evidence).
- ``HostLimiter``: politeness for one host — at most ``concurrency`` requests in flight and
  consecutive request starts spaced by at least the rate's interval, plus jitter.
- ``retry_after_seconds``: how long the server asked us to wait (the backoff otherwise is
  ``core.backoff``); ``network_reason``: a network failure in a few words.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import random
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from monitor.core.observation import Status
from monitor.sources.base import SourceOptions

Sleep = Callable[[float], Awaitable[None]]
Monotonic = Callable[[], float]


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    """Network behaviour of one source, in seconds and bytes.

    ``timeout`` bounds both a single read and the whole request including the body, so a
    server that drips one byte at a time cannot hold a check for longer than ``timeout``.
    ``default_headers`` (User-Agent, Accept-Language) fill in what the source's request
    leaves unset; ``extra_headers`` (the user's ``headers:``) override the source's.
    """

    interval: float = 5.0
    concurrency: int = 1
    timeout: float = 20.0
    connect_timeout: float = 10.0
    max_bytes: int = 8_000_000
    retries: int = 2
    proxy: str | None = None
    default_headers: tuple[tuple[str, str], ...] = ()
    extra_headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_options(cls, opts: SourceOptions) -> FetchPolicy:
        """The policy of a source, from its validated options."""
        return cls(
            interval=opts.rate.interval,
            concurrency=opts.concurrency,
            timeout=opts.timeout.total_seconds(),
            connect_timeout=opts.connect_timeout.total_seconds(),
            max_bytes=opts.max_bytes,
            retries=opts.retries,
            proxy=opts.proxy,
            default_headers=(
                ("User-Agent", opts.user_agent),
                ("Accept-Language", opts.accept_language),
            ),
            extra_headers=tuple(opts.headers.items()),
        )

    @property
    def httpx_timeout(self) -> httpx.Timeout:
        """Per-phase timeouts; the pool wait is bounded too so a full pool fails loudly."""
        return httpx.Timeout(self.timeout, connect=self.connect_timeout)


@dataclass(frozen=True, slots=True)
class FetchResult:
    """The outcome of one fetch.

    On success ``failure`` is ``None`` and ``response`` is complete: body read and
    decompressed, ``.encoding`` set so that ``.text`` is right. On failure ``status`` is
    one of the failed statuses and ``reason`` says why in a few words; ``response`` is kept
    when the server did answer (4xx/5xx page) so the caller can store it as evidence.
    ``waited`` is the time spent queueing for the host's politeness slots (not the
    server's fault, so callers leave it out of response-time figures).
    """

    response: httpx.Response | None
    status: Status | None = None
    reason: str | None = None
    http_status: int | None = None
    attempts: int = 1
    waited: float = 0.0

    @property
    def ok(self) -> bool:
        """True when a complete 2xx response was read."""
        return self.status is None


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
        self._sleep = sleep
        self._monotonic = monotonic
        self._rng = rng
        self._jitter = jitter

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[float]:
        """Hold one of the host's request slots; yields the seconds spent waiting for it."""
        async with self._semaphore:
            now = self._monotonic()
            start = max(now, self._next_start)
            gap = self.interval * (1.0 + self._rng.uniform(0.0, self._jitter))
            self._next_start = start + gap
            delay = start - now
            if delay > 0:
                await self._sleep(delay)
            yield max(delay, 0.0)

    def defer(self, seconds: float) -> None:
        """Start nothing on this host for ``seconds`` from now."""
        self._next_start = max(self._next_start, self._monotonic() + seconds)


def retry_after_seconds(response: httpx.Response, now: datetime) -> float | None:
    """Seconds the server asked us to wait, from ``Retry-After``; ``None`` if absent/invalid.

    An HTTP date is measured against the response's own ``Date`` header when it has one:
    that cancels out any skew between the server's clock and ours.
    """
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    reference = now
    served = response.headers.get("date")
    if served:
        with suppress(TypeError, ValueError):
            reference = email.utils.parsedate_to_datetime(served)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if reference.tzinfo is None:
        reference = reference.replace(tzinfo=UTC)
    return max(0.0, (when - reference).total_seconds())


def network_reason(exc: Exception) -> str:
    """A short reason for a network failure; the OS error underneath says the most."""
    cause: BaseException | None = exc
    for _ in range(8):  # a bounded walk: exception chains can, rarely, loop
        if cause is None:
            break
        if isinstance(cause, ConnectionRefusedError) or "refused" in str(cause).lower():
            return "connection refused"
        if isinstance(cause, socket.gaierror) or "name or service not known" in str(cause):
            return "DNS lookup failed"
        cause = cause.__cause__ or cause.__context__
    text = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ProxyError):
        return f"proxy error: {text}"
    return f"{type(exc).__name__}: {text}"[:200]
