"""The fetcher's own HTTP/1.1 connections (``monitor.fetch.wire`` under ``fetch.pools``): what
a real socket can do to them, and that each case ends the way httpx's transport ended it.

- a kept-alive connection the server dropped unanswered: a GET goes again on a new one, a
  POST does not (it may have been acted on);
- ``Connection: close``, a body left unread, a body over the cap, an idle time past the
  keep-alive expiry: the connection is not reused;
- a silent server: ``ReadTimeout``; a refused port: the fetcher's "connection refused"; a
  malformed answer: ``RemoteProtocolError``, a one-line ``network_error``;
- HTTPS: TLS verified against the given CAs (with ALPN ``http/1.1``), a certificate from
  anyone else refused.

Small servers on 127.0.0.1 written for each case (``asyncio.start_server``); they count the
connections they accept.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from monitor.core.observation import Status
from monitor.fetch.client import Fetcher, FetchPolicy
from monitor.fetch.pools import HostPools

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
Serve = Callable[["Server", asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Server:
    """An HTTP/1.1 server on 127.0.0.1 whose every connection runs ``serve``."""

    def __init__(self, serve: Serve, tls: ssl.SSLContext | None = None) -> None:
        self.serve = serve
        self.tls = tls
        self.opened = 0
        self.requests: list[bytes] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> Server:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0, ssl=self.tls)
        return self

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{port}/"

    async def head(self, reader: asyncio.StreamReader) -> bytes:
        """The next request's head (and its body, if it declared a length); b"" at EOF."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return b""
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                await reader.readexactly(int(line.split(b":")[1]))
        self.requests.append(head.split(b"\r\n")[0])
        return head

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.opened += 1
        try:
            await self.serve(self, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()


@pytest.fixture
async def serving() -> AsyncIterator[Callable[..., Awaitable[Server]]]:
    started: list[Server] = []

    async def start(serve: Serve, tls: ssl.SSLContext | None = None) -> Server:
        started.append(await Server(serve, tls).start())
        return started[-1]

    yield start
    for server in started:
        await server.stop()


async def answer_all(server: Server, reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    while await server.head(reader):
        w.write(OK)
        await w.drain()


async def answer_once_then_drop(
    server: Server, reader: asyncio.StreamReader, w: asyncio.StreamWriter
) -> None:
    """Answers a connection's first request; reads the second and closes unanswered."""
    await server.head(reader)
    w.write(OK)
    await w.drain()
    await server.head(reader)


async def test_a_get_on_a_dropped_kept_alive_connection_goes_again_on_a_new_one(
    serving: Callable[..., Awaitable[Server]],
) -> None:
    server = await serving(answer_once_then_drop)
    async with httpx.AsyncClient(transport=HostPools()) as client:
        assert (await client.get(server.url)).text == "ok"
        assert (await client.get(server.url)).text == "ok"
    assert server.opened == 2 and len(server.requests) == 3  # the second one twice


async def test_a_post_on_a_dropped_kept_alive_connection_is_not_sent_again(
    serving: Callable[..., Awaitable[Server]],
) -> None:
    server = await serving(answer_once_then_drop)
    async with httpx.AsyncClient(transport=HostPools()) as client:
        await client.get(server.url)
        with pytest.raises(httpx.ReadError):
            await client.post(server.url, content=b"act once")
    assert [r.split(b" ")[0] for r in server.requests] == [b"GET", b"POST"]


async def test_connection_close_from_the_server_is_not_reused(
    serving: Callable[..., Awaitable[Server]],
) -> None:
    async def close_each(server: Server, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await server.head(r)
        w.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
        await w.drain()
        await r.read()  # the socket stays open until the client closes it: it must not wait

    server = await serving(close_each)
    async with httpx.AsyncClient(transport=HostPools()) as client:
        for _ in range(3):
            assert (await client.get(server.url)).text == "ok"
    assert server.opened == 3


async def test_a_body_left_unread_closes_its_connection(
    serving: Callable[..., Awaitable[Server]],
) -> None:
    server = await serving(answer_all)
    async with httpx.AsyncClient(transport=HostPools()) as client:
        async with client.stream("GET", server.url):
            pass  # closed before its body was read
        assert (await client.get(server.url)).text == "ok"
    assert server.opened == 2


async def test_a_body_over_the_cap_is_cut_and_its_connection_closed(
    serving: Callable[..., Awaitable[Server]],
) -> None:
    async def endless(server: Server, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await server.head(r)
        w.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"x" * 65536
        for _ in range(200):  # 13 MB unless the client hangs up first
            w.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await w.drain()
        w.write(b"0\r\n\r\n")
        await w.drain()
        await answer_all(server, r, w)

    server = await serving(endless)
    policy = FetchPolicy(interval=0.0, retries=0, max_bytes=100_000)
    async with Fetcher() as fetcher:
        result = await fetcher.fetch(httpx.Request("GET", server.url), policy)
        assert result.status is Status.PARSE_ERROR
        assert result.reason == "response too large (> 100000 bytes)"
        again = await fetcher.fetch(httpx.Request("GET", server.url), policy)
    assert again.status is Status.PARSE_ERROR and server.opened == 2


async def test_a_silent_server_is_a_read_timeout(
    serving: Callable[..., Awaitable[Server]],
) -> None:
    async def silent(server: Server, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await server.head(r)
        await r.read()  # never answers; the client hangs up

    server = await serving(silent)
    async with httpx.AsyncClient(transport=HostPools(), timeout=0.2) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get(server.url)


async def test_a_refused_port_is_connection_refused() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago and is closed now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with Fetcher() as fetcher:
        result = await fetcher.fetch(
            httpx.Request("GET", f"http://127.0.0.1:{port}/"), FetchPolicy(interval=0, retries=0)
        )
    assert result.status is Status.NETWORK_ERROR and result.reason == "connection refused"


async def test_a_malformed_answer_is_a_protocol_error_in_one_line(
    serving: Callable[..., Awaitable[Server]],
) -> None:
    async def garbage(server: Server, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await server.head(r)
        w.write(b"SMTP ready\r\n\r\n")
        await w.drain()

    server = await serving(garbage)
    async with httpx.AsyncClient(transport=HostPools()) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(server.url)
    async with Fetcher() as fetcher:
        result = await fetcher.fetch(
            httpx.Request("GET", server.url), FetchPolicy(interval=0, retries=0)
        )
    assert result.status is Status.NETWORK_ERROR and result.reason
    assert result.reason.startswith("RemoteProtocolError: ") and "\n" not in result.reason


def _certificate(tmp: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp / f"{name}.pem", tmp / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


async def test_https_is_verified_against_the_given_authorities(
    serving: Callable[..., Awaitable[Server]], tmp_path: Path
) -> None:
    cert, key = _certificate(tmp_path, "engine")
    other, _ = _certificate(tmp_path, "someone-else")
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(cert, key)
    served.set_alpn_protocols(["h2", "http/1.1"])
    protocols: list[str | None] = []

    async def alpn(server: Server, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        sock = w.get_extra_info("ssl_object")
        protocols.append(sock.selected_alpn_protocol())
        await answer_all(server, r, w)

    server = await serving(alpn, served)
    async with httpx.AsyncClient(
        transport=HostPools(tls=ssl.create_default_context(cafile=cert))
    ) as c:
        assert (await c.get(server.url)).text == "ok"
        assert (await c.get(server.url)).text == "ok"
    assert server.opened == 1 and protocols == ["http/1.1"]
    strangers = HostPools(tls=ssl.create_default_context(cafile=other))
    async with httpx.AsyncClient(transport=strangers) as client:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await client.get(server.url)


async def test_an_idle_connection_past_the_keep_alive_expiry_is_not_reused(
    serving: Callable[..., Awaitable[Server]],
) -> None:
    server = await serving(answer_all)
    now = [100.0]
    pools = HostPools(keepalive_expiry=5.0, clock=lambda: now[0])
    async with httpx.AsyncClient(transport=pools) as client:
        await client.get(server.url)
        now[0] += 4.9
        await client.get(server.url)  # idle 4.9 s: reused
        assert server.opened == 1
        now[0] += 5.1
        await client.get(server.url)  # idle 5.1 s: a new connection
    assert server.opened == 2 and len(server.requests) == 3
