"""One HTTP/1.1 connection: h11's state machine over an asyncio transport.

``Wire.open(scheme, host, port, ...)`` connects (TLS with ALPN ``http/1.1`` for https) within
the connect timeout; ``wire.send(request, timeouts)`` writes a request and returns the
``httpx.Response`` whose stream reads the body straight off the socket, each read within the
read timeout. The parsing and framing are h11's (the library httpcore itself drives); what
this module adds is only the plumbing httpcore wraps in anyio, cancel scopes and a pool
that re-inspects every connection on every request (see ``fetch.pools`` for why that
mattered).

Failures surface as httpx's own exceptions, the OS error kept as the cause (the fetcher's
one-line reasons read it): ``ConnectTimeout``/``ConnectError`` while connecting,
``ReadTimeout``/``WriteTimeout``, ``ReadError``/``WriteError`` on a broken socket,
``RemoteProtocolError`` for a malformed answer or one cut short. ``StaleConnection`` (a
``ReadError``) means a reused connection was closed by the server before it answered:
nothing was received, so the pool may safely send the request again on a new one.

A connection is ``reusable`` only when both sides finished their message, the server did
not ask to close, nothing arrived unasked, the socket is open and it has been idle for less
than the keep-alive expiry: the event loop watches the socket all along, so a server's
close is known without polling it.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

import h11
import httpx

# Bytes buffered from the socket before reading pauses until the body's reader catches up.
HIGH_WATER = 256 * 1024
# Largest response head (status line and headers) accepted: httpcore's limit.
MAX_HEAD = 100 * 1024


class StaleConnection(httpx.ReadError):
    """A kept-alive connection closed by the server before any byte of the answer."""


class _Socket(asyncio.Protocol):
    """Received bytes, end of stream and write flow control of one transport."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.chunks: deque[bytes] = deque()
        self.buffered = 0
        self.received = 0  # bytes in all
        self.eof = False
        self.error: BaseException | None = None
        self._readable: asyncio.Future[None] | None = None
        self._writable: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self.buffered += len(data)
        self.received += len(data)
        if self.buffered > HIGH_WATER and self.transport is not None:
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False  # close our side too: HTTP/1.1 has no use for a half-open socket

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.error = exc
        self._wake()
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    def pause_writing(self) -> None:
        self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        self._writable = None

    def _wake(self) -> None:
        if self._readable is not None and not self._readable.done():
            self._readable.set_result(None)

    async def read(self, within: float | None) -> bytes:
        """What arrived so far (waiting for something), or ``b""`` at the end of the stream."""
        if not self.chunks and not self.eof:
            self._readable = asyncio.get_running_loop().create_future()
            try:
                async with asyncio.timeout(within):
                    await self._readable
            except TimeoutError:
                raise httpx.ReadTimeout(f"no data for {within:g}s") from None
            finally:
                self._readable = None
        if not self.chunks:
            if self.error is not None:
                raise httpx.ReadError(str(self.error) or type(self.error).__name__) from self.error
            return b""
        data = self.chunks[0] if len(self.chunks) == 1 else b"".join(self.chunks)
        self.chunks.clear()
        self.buffered = 0
        if self.transport is not None and not self.transport.is_reading():
            self.transport.resume_reading()
        return data

    async def write(self, data: bytes, within: float | None) -> None:
        if self.transport is None or self.transport.is_closing() or self.eof:
            raise httpx.WriteError("connection closed")
        self.transport.write(data)
        if self._writable is not None:
            try:
                async with asyncio.timeout(within):
                    await self._writable
            except TimeoutError:
                raise httpx.WriteTimeout(f"could not write for {within:g}s") from None


class Wire:
    """One HTTP/1.1 connection to an origin; see the module docstring."""

    def __init__(self, sock: _Socket, *, expiry: float, clock: Callable[[], float]) -> None:
        self._sock = sock
        self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD)
        self._expiry = expiry
        self._clock = clock
        self.idle_since = clock()
        peer = sock.transport.get_extra_info("peername") if sock.transport else None
        self.peer: str = str(peer[0]) if peer else ""  # the address connected to

    @classmethod
    async def open(
        cls,
        scheme: str,
        host: str,
        port: int,
        *,
        tls: ssl.SSLContext | None,
        within: float | None,
        expiry: float,
        clock: Callable[[], float],
        address: str | None = None,
        sni: str | None = None,
    ) -> Wire:
        """Connect to ``host:port`` (``address`` instead when given: a resolved, checked IP;
        TLS still verifies ``sni`` or ``host``), within ``within`` seconds in all."""
        loop = asyncio.get_running_loop()
        secure: dict[str, Any] = {}
        if scheme == "https":
            assert tls is not None
            tls.set_alpn_protocols(["http/1.1"])  # no h2 (``fetch.pools``)
            secure = {"ssl": tls, "server_hostname": sni or host, "ssl_handshake_timeout": None}
        try:
            async with asyncio.timeout(within):
                _, sock = await loop.create_connection(
                    _Socket, address or host, port, happy_eyeballs_delay=0.25, **secure
                )
        except TimeoutError:
            raise httpx.ConnectTimeout(f"connect timeout after {within:g}s") from None
        except OSError as exc:  # refused, unreachable, DNS (gaierror), TLS (SSLError)
            raise httpx.ConnectError(str(exc) or type(exc).__name__) from exc
        return cls(sock, expiry=expiry, clock=clock)

    def reusable(self) -> bool:
        """True when the next request may be sent on this connection (module docstring)."""
        sock = self._sock
        return (
            self._h11.our_state is h11.IDLE
            and self._h11.their_state is h11.IDLE
            and not sock.eof
            and not sock.chunks
            and sock.transport is not None
            and not sock.transport.is_closing()
            and self._clock() - self.idle_since < self._expiry
        )

    def close(self) -> None:
        if self._sock.transport is not None:
            self._sock.transport.close()

    async def send(
        self,
        request: httpx.Request,
        timeouts: dict[str, float | None],
        released: Callable[[Wire, bool], None],
        *,
        reused: bool,
    ) -> httpx.Response:
        """Send ``request`` and read the answer's head; the body is read by the returned
        response's stream, which calls ``released(wire, reusable)`` when it is closed.
        ``reused``: the connection carried an earlier request (so a close before any byte
        of the answer is ``StaleConnection``)."""
        read, write = timeouts.get("read"), timeouts.get("write")
        before = self._sock.received
        try:
            head = h11.Request(
                method=request.method,
                target=request.url.raw_path,
                headers=request.headers.raw,
            )
            await self._sock.write(self._h11.send(head) or b"", write)
            stream = request.stream
            assert isinstance(stream, httpx.AsyncByteStream)
            async for chunk in stream:
                await self._sock.write(self._h11.send(h11.Data(data=chunk)) or b"", write)
            await self._sock.write(self._h11.send(h11.EndOfMessage()) or b"", write)
            event = await self._next(read)
            while isinstance(event, h11.InformationalResponse):  # 100 Continue and the like
                event = await self._next(read)
        except h11.LocalProtocolError as exc:
            self.close()
            raise httpx.LocalProtocolError(str(exc)) from exc
        except h11.RemoteProtocolError as exc:
            self.close()
            if reused and self._sock.received == before:
                raise StaleConnection("server closed the kept-alive connection") from exc
            raise httpx.RemoteProtocolError(str(exc)) from exc
        except (httpx.WriteError, httpx.ReadError) as exc:
            self.close()
            if reused and self._sock.received == before:
                raise StaleConnection(str(exc)) from exc
            raise
        except BaseException:
            self.close()
            raise
        assert isinstance(event, h11.Response)
        return httpx.Response(
            event.status_code,
            headers=event.headers.raw_items(),
            stream=_Body(self, read, released),
            extensions={
                "http_version": b"HTTP/" + event.http_version,
                "reason_phrase": event.reason,
            },
        )

    async def _next(self, within: float | None) -> Any:
        while True:
            event = self._h11.next_event()
            if event is not h11.NEED_DATA:
                return event
            self._h11.receive_data(await self._sock.read(within))

    async def body(self, within: float | None) -> AsyncIterator[bytes]:
        """The body's bytes as they arrive; ends at the end of the message."""
        try:
            while True:
                event = await self._next(within)
                if isinstance(event, h11.Data):
                    yield bytes(event.data)
                elif isinstance(event, h11.EndOfMessage):
                    return
        except h11.RemoteProtocolError as exc:
            self.close()
            raise httpx.RemoteProtocolError(str(exc)) from exc

    def finish(self) -> bool:
        """After a whole answer: ready the next cycle; False when the connection must close."""
        h = self._h11
        if h.our_state is h11.DONE and h.their_state is h11.DONE:
            h.start_next_cycle()
            self.idle_since = self._clock()
            return self.reusable()
        return False


class _Body(httpx.AsyncByteStream):
    """A response body read off its connection; releases the connection once, when closed."""

    def __init__(
        self, wire: Wire, within: float | None, released: Callable[[Wire, bool], None]
    ) -> None:
        self._wire = wire
        self._within = within
        self._released: Callable[[Wire, bool], None] | None = released
        self._complete = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._wire.body(self._within):
            yield chunk
        self._complete = True

    async def aclose(self) -> None:
        release, self._released = self._released, None
        if release is not None:
            # A body left unread leaves the connection mid-message: it cannot carry another.
            reusable = self._complete and self._wire.finish()
            if not reusable:
                self._wire.close()
            release(self._wire, reusable)
