"""One connection pool per host: the fetcher's transport when none is injected.

``HostPools`` is an ``httpx.AsyncBaseTransport`` that hands each request to the pool of its
origin (scheme, host, port), created on first use: an ``httpx.AsyncHTTPTransport`` whose
connections stay open between requests (HTTP/1.1 keep-alive), so a round's checks of one
engine reuse the same few warm connections, round after round.

Why a pool per host and not httpx's one pool for every host: before each request, and
again when each response closes, httpcore's pool looks at every connection it holds
(``has_expired``: a socket poll and a dict of socket attributes per connection). With six
engines at four connections each, that walk over 24 connections was the largest single
cost of a check in ``bench.round`` (a fifth of the main process's CPU); a host's own pool
holds only the connections its ``concurrency`` allows.

At most ``max_pools`` pools are kept (thumbnail hosts come and go): past that, the least
recently used pool with no request in flight is closed (its idle connections with it);
a pool that is busy is never closed under its request.

No HTTP/2: the engines are asked ``concurrency`` (1-4) requests at a time, which HTTP/1.1
keep-alive already serves on warm connections; multiplexing would save nothing at that
width, and h2's pure-Python framing and header compression cost more CPU per request
than h11 (and one more dependency, ``httpx[http2]``).
"""

from __future__ import annotations

import ssl
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Callable
from types import TracebackType

import httpx

# Pools kept at once (each holds at most its host's concurrency in idle connections).
MAX_POOLS = 64
Origin = tuple[bytes, bytes, int | None]


class HostPools(httpx.AsyncBaseTransport):
    """Sends each request through its origin's own connection pool (module docstring)."""

    def __init__(self, *, max_pools: int = MAX_POOLS, keepalive: int = 16) -> None:
        if max_pools < 1:
            raise ValueError("HostPools needs room for at least one pool")
        self.max_pools = max_pools
        self._keepalive = keepalive
        self._pools: OrderedDict[Origin, httpx.AsyncHTTPTransport] = OrderedDict()
        self._busy: Counter[Origin] = Counter()  # requests in flight, per origin
        # One TLS context for every pool: loading the CA store costs milliseconds each time.
        self._ssl: ssl.SSLContext | None = None

    def __len__(self) -> int:
        return len(self._pools)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        origin: Origin = (url.raw_scheme, url.raw_host, url.port)
        pool = self._pools.get(origin)
        if pool is None:
            await self._make_room()
            if self._ssl is None:
                self._ssl = httpx.create_ssl_context()
            pool = self._pools[origin] = httpx.AsyncHTTPTransport(
                verify=self._ssl,
                # The fetcher's per-host limiter bounds the connections; a cap here would
                # only add a second queue.
                limits=httpx.Limits(
                    max_connections=None, max_keepalive_connections=self._keepalive
                ),
            )
        else:
            self._pools.move_to_end(origin)
        self._busy[origin] += 1
        try:
            response = await pool.handle_async_request(request)
        except BaseException:
            self._done(origin)
            raise
        response.stream = _Counted(response.stream, lambda: self._done(origin))
        return response

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), OrderedDict()
        for pool in pools:
            await pool.aclose()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self.aclose()

    def _done(self, origin: Origin) -> None:
        self._busy[origin] -= 1
        if self._busy[origin] <= 0:
            del self._busy[origin]

    async def _make_room(self) -> None:
        """Close least recently used idle pools until a new one fits (busy ones stay)."""
        while len(self._pools) >= self.max_pools:
            idle = next((o for o in self._pools if not self._busy[o]), None)
            if idle is None:  # every pool has a request in flight: grow for now
                return
            await self._pools.pop(idle).aclose()


class _Counted(httpx.AsyncByteStream):
    """A response stream that reports once when it is closed (the request is over)."""

    def __init__(
        self, stream: httpx.SyncByteStream | httpx.AsyncByteStream, done: Callable[[], None]
    ) -> None:
        assert isinstance(stream, httpx.AsyncByteStream)
        self._stream = stream
        self._done = done
        self._closed = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._stream.__aiter__()  # the pool's own iterator: no layer per chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            if not self._closed:
                self._closed = True
                self._done()
