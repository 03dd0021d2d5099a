"""The shared HTTP fetcher: polite per host, bounded in time and size, honest about failure.

``Fetcher.fetch(request, policy)`` sends a request a source built and returns a
``FetchResult``: a complete response, or the failed ``Status`` the check is stored with:

- 403, and 429 still answered after the retries (``throttle_retries``/``throttle_wait``
  bound them), are ``blocked``; other 4xx, 3xx loops and 5xx after them ``http_error``;
- network errors and timeouts still failing after the retries are ``network_error``;
- a body over ``max_bytes`` (counted while streaming, after decompression) or a body that
  cannot be decompressed is ``parse_error``;
- with a ``policy.guard``, redirects are followed here one by one and every URL, the first
  included, is asked first; a refused one is ``http_error`` with the guard's reason, and
  nothing is sent to it (each connection is held to the addresses it checked, too).

Each host has a ``HostLimiter`` (concurrency and spacing); every attempt, retries included,
takes a slot, so failures never multiply the load on a host. Hosts share nothing else:
a hanging host only ties up its own slots; ``max_hosts`` hosts are remembered at most.
There is one ``httpx.AsyncClient`` per proxy setting (httpx binds proxies to clients); its
cookie jar keeps what engines hand out. Its connections are pooled per host
(``fetch.pools``) and kept open between requests and rounds (HTTP/1.1 keep-alive).
Everything outside the process (transport, sleep, clocks, randomness) is injectable.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType

import httpx

from monitor.core.backoff import EQUAL_JITTER, backoff_delay
from monitor.core.clock import Clock, utcnow
from monitor.core.logs import clip
from monitor.core.lru import LRU
from monitor.core.masking import mask_url
from monitor.core.observation import Status
from monitor.fetch.body import ACCEPT_ENCODING, complete_response, read_capped
from monitor.fetch.cookies import Client
from monitor.fetch.guard import send_guarded
from monitor.fetch.limiter import MAX_HOSTS, HostLimiter, forget
from monitor.fetch.policy import FetchPolicy, FetchResult, Monotonic, Sleep
from monitor.fetch.pools import HostPools
from monitor.fetch.retry import attempt_failure, rest_after_429, retry_after_seconds
from monitor.fetch.warmup import Warmups

__all__ = ["FetchPolicy", "FetchResult", "Fetcher"]

logger = logging.getLogger(__name__)

_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,application/json;q=0.9,*/*;q=0.8"


@dataclass(frozen=True, slots=True)
class _Attempt:
    """One try: its result, whether another try may help, and how long the server asked."""

    result: FetchResult
    retry: bool = False
    retry_after: float | None = None


class Fetcher:
    """Sends requests for all sources of the process; see the module docstring.

    Limiter settings come from the first policy that reaches a host: two sources on one
    host share one budget (politeness is owed to the host, not to the source).
    """

    def __init__(
        self,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        monotonic: Monotonic = time.monotonic,
        clock: Clock = utcnow,
        rng: random.Random | None = None,
        max_redirects: int = 5,
        backoff_base: float = 1.0,
        backoff_cap: float = 30.0,
        retry_after_cap: float = 120.0,
        warmup_retry_after: float = 600.0,
        max_hosts: int = MAX_HOSTS,
    ) -> None:
        self._transport = transport
        self._sleep = sleep
        self._monotonic = monotonic
        self._clock = clock
        self._rng = rng or random.Random()
        self.max_redirects = max_redirects
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.retry_after_cap = retry_after_cap
        self._clients: dict[str | None, httpx.AsyncClient] = {}
        self._hosts: LRU[str, HostLimiter] = LRU(
            max_hosts, lambda h, _: forget([c.cookies.jar for c in self._clients.values()], h)
        )
        self.warmups = Warmups(
            self.fetch,
            lambda: [c.cookies.jar for c in self._clients.values()],
            monotonic=monotonic,
            retry_after=warmup_retry_after,
            max_keys=max_hosts,
        )

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every client (and its connections)."""
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()

    def client(self, proxy: str | None = None) -> httpx.AsyncClient:
        """The shared client for a proxy setting, created on first use."""
        client = self._clients.get(proxy)
        if client is None:
            injected = self._transport is not None
            client = Client(
                # One connection pool per host (``fetch.pools``), kept across rounds; a
                # proxy's transport (``proxy``, or the environment's) is mounted over it.
                transport=self._transport if injected else HostPools(),
                # httpx mounts a proxy transport even beside an injected one, which would
                # route test traffic around the mock; tests inject, production proxies.
                proxy=None if injected else proxy,
                trust_env=not injected,
                follow_redirects=True,
                max_redirects=self.max_redirects,
                # Per-host limiters bound the connections; a pool limit would only add a
                # second, global queue in which a hanging host could block the others.
                limits=httpx.Limits(max_connections=None, max_keepalive_connections=100),
            )
            self._clients[proxy] = client
        return client

    def limiter(self, host: str, policy: FetchPolicy) -> HostLimiter:
        """The politeness limiter of ``host`` (``host[:port]``), created on first use."""
        limiter = self._hosts.get(host)
        if limiter is None:
            limiter = HostLimiter(
                policy.interval,
                policy.concurrency,
                sleep=self._sleep,
                monotonic=self._monotonic,
                rng=self._rng,
            )
            self._hosts[host] = limiter
        return limiter

    async def warm_up(
        self,
        key: str,
        request: httpx.Request | None,
        policy: FetchPolicy,
        max_age: float | None = None,
    ) -> int:
        """Send ``request`` once per ``key``, again when older than ``max_age`` seconds;
        the session's generation. Rules, and renewal after a refusal: ``fetch.warmup``."""
        return await self.warmups.ensure(key, request, policy, max_age)

    async def fetch(
        self,
        request: httpx.Request,
        policy: FetchPolicy,
        *,
        gate: Callable[[], Awaitable[None]] | None = None,
    ) -> FetchResult:
        """Send ``request`` under ``policy``; never raises for network or HTTP failures.
        ``gate`` is awaited once the host's slot is held, right before each attempt (the
        parse pool's backpressure: a body is fetched only when it can soon be parsed); its
        wait counts as waiting, like the slot's."""
        self._prepare(request, policy)
        client = self.client(policy.proxy)
        limiter = self.limiter(request.url.netloc.decode("ascii").lower(), policy)
        attempts = policy.retries + 1
        waited = 0.0
        throttled = 0
        for number in range(1, attempts + 1):
            async with limiter.slot() as queued:
                waited += queued
                if gate is not None:
                    held = self._monotonic()
                    await gate()
                    waited += self._monotonic() - held
                attempt = await self._attempt(client, request, policy)
            asked = attempt.retry_after
            if attempt.result.http_status == 429:  # load shedding: rest the host first
                throttled, asked = throttled + 1, rest_after_429(asked, policy.throttle_wait)
            if asked is not None:
                # Every request to the host waits, not only this one (and also when this
                # was the last attempt): the server spoke about itself, not about one URL.
                limiter.defer(min(asked, self.retry_after_cap))
                if asked > self.retry_after_cap:
                    reason = f"{attempt.result.reason}, Retry-After {asked:g}s"
                    return self._done(request, attempt, number, waited, reason)
            spent = policy.throttle_retries is not None and throttled > policy.throttle_retries
            if not attempt.retry or number == attempts or spent:  # spent: no hammering
                break
            if asked is None:
                await self._sleep(
                    backoff_delay(
                        number,
                        base=self.backoff_base,
                        cap=self.backoff_cap,
                        jitter=EQUAL_JITTER,
                        rng=self._rng,
                    )
                )
            why, url = clip(attempt.result.reason), clip(mask_url(request.url))  # scraped
            logger.debug("retrying %s %s after %s", request.method, url, why)
        return self._done(request, attempt, number, waited, attempt.result.reason)

    def _done(
        self,
        request: httpx.Request,
        attempt: _Attempt,
        attempts: int,
        waited: float,
        reason: str | None,
    ) -> FetchResult:
        result = attempt.result
        if result.ok:
            return FetchResult(
                result.response, http_status=result.http_status, attempts=attempts, waited=waited
            )
        if attempts > 1:
            reason = f"{reason} ({attempts} attempts)"
        url = clip(mask_url(request.url))  # thumbnail URLs are scraped
        logger.info("fetch failed: %s %s: %s", request.method, url, clip(reason))
        return FetchResult(
            result.response, result.status, reason, result.http_status, attempts, waited
        )

    def _prepare(self, request: httpx.Request, policy: FetchPolicy) -> None:
        """Add default headers, the client's cookies and the policy's timeouts."""
        # A pre-built request gets none of the client's default headers.
        request.headers.setdefault("Accept", _ACCEPT)
        request.headers.setdefault("Accept-Encoding", ACCEPT_ENCODING)
        for name, value in policy.default_headers:
            request.headers.setdefault(name, value)
        for name, value in policy.extra_headers:
            request.headers[name] = value
        # A pre-built request bypasses the client's cookie merging; add the jar's cookies
        # (kept on a ``Cookie`` header the source set itself, which the jar does not touch).
        self.client(policy.proxy).cookies.set_cookie_header(request)
        request.extensions = {**request.extensions, "timeout": policy.httpx_timeout.as_dict()}

    async def _attempt(
        self, client: httpx.AsyncClient, request: httpx.Request, policy: FetchPolicy
    ) -> _Attempt:
        try:
            async with asyncio.timeout(policy.timeout):
                if policy.guard is None:
                    response = await client.send(request, stream=True)
                else:
                    guarded = await send_guarded(client, request, policy.guard, self.max_redirects)
                    if isinstance(guarded, str):
                        return _fail(Status.HTTP_ERROR, guarded)
                    response = guarded
                try:
                    body = await read_capped(response, policy.max_bytes)
                finally:
                    await response.aclose()
        except (httpx.HTTPError, OSError) as exc:  # OSError: asyncio's TimeoutError too
            status, reason, retry = attempt_failure(exc, policy, self.max_redirects)
            return _fail(status, reason, retry=retry)

        if body is None:
            too_large = f"response too large (> {policy.max_bytes} bytes)"
            return _Attempt(FetchResult(None, Status.PARSE_ERROR, too_large, response.status_code))
        full = complete_response(response, body)
        code = full.status_code
        if 200 <= code < 300:
            return _Attempt(FetchResult(full, http_status=code))
        reason = f"HTTP {code} {full.reason_phrase}".rstrip()
        if code in (429, 503):
            wait = retry_after_seconds(full, self._clock())
            # A 429 that outlasts the retries means the engine keeps refusing us: blocked.
            status = Status.BLOCKED if code == 429 else Status.HTTP_ERROR
            return _Attempt(FetchResult(full, status, reason, code), retry=True, retry_after=wait)
        if code >= 500:
            return _Attempt(FetchResult(full, Status.HTTP_ERROR, reason, code), retry=True)
        status = Status.BLOCKED if code == 403 else Status.HTTP_ERROR
        return _Attempt(FetchResult(full, status, reason, code))


def _fail(status: Status, reason: str, *, retry: bool = False) -> _Attempt:
    return _Attempt(FetchResult(None, status, reason), retry=retry)
