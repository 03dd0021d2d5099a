"""One pool of kept-alive connections per host: the fetcher's transport when none is injected.

``HostPools`` is an ``httpx.AsyncBaseTransport`` that sends each direct (unproxied) request on
a connection of its origin (scheme, host, port): the most recently used idle one that is
still ``reusable`` (``fetch.wire``), else a new one. When the response is closed after its
whole body was read, the connection goes back to its origin's idle list (at most
``keepalive`` kept per origin), so a round's checks of one engine reuse the same few warm
connections, round after round while they stay within the keep-alive expiry. A kept-alive
connection the server closed just before our request reached it (``StaleConnection``:
nothing was answered) is replaced by a new one and a body-less GET or HEAD sent again, once
per idle connection: the race every keep-alive client meets.

Why not httpx's own transport (httpcore): before each request, and again when each response
closes, httpcore's pool walks every connection it holds, asking each whether it has expired
(a socket poll through anyio's typed attributes: a dict of six lambdas built per ask) and
whether it is idle (once per connection per connection). With ten requests in flight that
walk, and anyio's cancel scopes around each read, cost more CPU than everything else a
request needs (``bench.fetch_cost``: about 1.0 of 1.9 CPU ms per request). Here the event
loop already watches each socket, so an idle connection knows it was closed without being
asked, and taking one is a ``list.pop``. Proxied requests still go through httpx's own
proxy transports, which httpx mounts over this one.

At most ``max_pools`` origins are kept (thumbnail hosts come and go): past that, the least
recently used origin with no request in flight is dropped, its idle connections closed; one
with a request in flight is never closed under it.

No HTTP/2: the engines are asked ``concurrency`` (1-4) requests at a time, which HTTP/1.1
keep-alive already serves on warm connections; multiplexing would save nothing at that
width, and h2's pure-Python framing and header compression cost more CPU per request
than h11 (and one more dependency, ``httpx[http2]``).
"""

from __future__ import annotations

import contextlib
import functools
import ssl
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from types import TracebackType

import httpx

from monitor.fetch.guard import GUARD, AddressGuard, Refused
from monitor.fetch.wire import StaleConnection, Wire

# Origins kept at once (each keeps at most ``keepalive`` idle connections).
MAX_POOLS = 64
# Seconds an idle connection is kept (httpx's default): servers close theirs after 5-75 s.
KEEPALIVE_EXPIRY = 5.0
_PORTS = {"http": 80, "https": 443}
_REPLAYABLE = frozenset({"GET", "HEAD"})
Origin = tuple[str, str, int]


class HostPools(httpx.AsyncBaseTransport):
    """Sends each request on a kept-alive connection of its origin (module docstring)."""

    def __init__(
        self,
        *,
        max_pools: int = MAX_POOLS,
        keepalive: int = 16,
        keepalive_expiry: float = KEEPALIVE_EXPIRY,
        clock: Callable[[], float] = time.monotonic,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        if max_pools < 1:
            raise ValueError("HostPools needs room for at least one pool")
        self.max_pools = max_pools
        self._keepalive = keepalive
        self._expiry = keepalive_expiry
        self._clock = clock
        self._idle: OrderedDict[Origin, list[Wire]] = OrderedDict()
        self._busy: Counter[Origin] = Counter()  # requests in flight, per origin
        self._open: set[Wire] = set()  # every connection, idle or busy, to close at the end
        # One TLS context for every connection (loading the CA store costs milliseconds);
        # httpx's default (certifi's CAs) unless one is given.
        self._tls = tls

    def __len__(self) -> int:
        return len(self._idle)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.scheme
        if scheme not in _PORTS:
            raise httpx.UnsupportedProtocol(f"unsupported scheme {scheme!r}: not http(s)")
        if not url.host:
            raise httpx.UnsupportedProtocol("the URL has no host")
        origin: Origin = (scheme, url.host, url.port or _PORTS[scheme])
        idle = self._idle.get(origin)
        if idle is None:
            self._make_room()
            idle = self._idle[origin] = []
        else:
            self._idle.move_to_end(origin)
        self._busy[origin] += 1
        try:
            return await self._send(origin, idle, request)
        except BaseException:
            self._done(origin)
            raise

    async def _send(
        self, origin: Origin, idle: list[Wire], request: httpx.Request
    ) -> httpx.Response:
        timeouts = request.extensions.get("timeout") or {}

        def release(wire: Wire, reusable: bool) -> None:
            self._done(origin)
            kept = self._idle.get(origin)
            if reusable and kept is not None and len(kept) < self._keepalive:
                kept.append(wire)
            else:
                self._drop(wire)

        replayable = request.method in _REPLAYABLE and isinstance(request.stream, httpx.ByteStream)
        _, host, port = origin
        guard = request.extensions.get(GUARD)
        if not isinstance(guard, AddressGuard):
            guard = None
        while (wire := self._take(idle, guard, host, port)) is not None:
            try:
                return await wire.send(request, timeouts, release, reused=True)
            except StaleConnection:
                self._drop(wire)
                if not replayable:
                    raise
            except BaseException:
                self._drop(wire)
                raise
        wire = await self._connect(origin, request, guard, timeouts.get("connect"))
        self._open.add(wire)
        try:
            return await wire.send(request, timeouts, release, reused=False)
        except BaseException:
            self._drop(wire)
            raise

    def _take(
        self, idle: list[Wire], guard: AddressGuard | None, host: str, port: int
    ) -> Wire | None:
        """The most recently used kept-alive connection the request may use (closing the
        dead ones on the way); under a guard, only one whose peer address it allows."""
        for i in range(len(idle) - 1, -1, -1):
            wire = idle[i]
            if not wire.reusable():
                del idle[i]
                self._drop(wire)
            elif guard is None or guard.peer_allowed(host, port, wire.peer):
                del idle[i]
                return wire
        return None

    async def _connect(
        self,
        origin: Origin,
        request: httpx.Request,
        guard: AddressGuard | None,
        within: float | None,
    ) -> Wire:
        """A new connection to ``origin``; under a guard, to an address it checked."""
        scheme, host, port = origin
        if scheme == "https" and self._tls is None:
            self._tls = httpx.create_ssl_context()
        sni = request.extensions.get("sni_hostname")
        sni = sni if isinstance(sni, str) else None
        targets = await guard.addresses(host, port) if guard is not None else None
        if isinstance(targets, str):
            raise Refused(targets)
        opener = functools.partial(
            Wire.open,
            scheme,
            host,
            port,
            tls=self._tls,
            within=within,
            expiry=self._expiry,
            clock=self._clock,
            sni=sni,
        )
        # The checked addresses in order (the next one when one cannot be reached), else
        # the name itself.
        candidates: list[str | None] = [*targets] if targets else [None]
        *first, last = candidates
        for address in first:
            with contextlib.suppress(httpx.ConnectError):
                return await opener(address=address)
        return await opener(address=last)

    def _drop(self, wire: Wire) -> None:
        wire.close()
        self._open.discard(wire)

    async def aclose(self) -> None:
        wires, self._open = list(self._open), set()
        self._idle.clear()
        for wire in wires:
            wire.close()

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

    def _make_room(self) -> None:
        """Drop least recently used idle origins until a new one fits (busy ones stay)."""
        while len(self._idle) >= self.max_pools:
            origin = next((o for o in self._idle if not self._busy[o]), None)
            if origin is None:  # every origin has a request in flight: grow for now
                return
            for wire in self._idle.pop(origin):
                self._drop(wire)
