"""What the fetcher is allowed to do to one host, and what it reports back.

- ``FetchPolicy``: a source's network options (rate, concurrency, timeouts, size cap,
  retries, proxy, headers), flattened into plain numbers once at start-up.
- ``FetchResult``: a complete response, or a failure carrying the ``Status`` the check
  will be stored with. A failure may still carry the response (a 403 page is evidence).

Politeness per host is ``fetch.limiter``; what a failure means for a retry, ``fetch.retry``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

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
    throttle_retries: int | None = None
    throttle_wait: float | None = None
    default_headers: tuple[tuple[str, str], ...] = ()
    extra_headers: tuple[tuple[str, str], ...] = ()
    # Asked before the request and before each redirect is followed: None to go, else why
    # not (``monitor.fetch.guard``; for URLs that came from scraped pages).
    guard: Callable[[httpx.URL], Awaitable[str | None]] | None = None

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
            throttle_retries=opts.throttle_retries,
            throttle_wait=opts.throttle_wait.total_seconds() if opts.throttle_wait else None,
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
