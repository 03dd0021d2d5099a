"""The address guard at connection time (``fetch.guard`` with ``fetch.pools``): a host's
verdict is kept for a while, and the connection itself is held to it.

- a name is resolved once per ``ttl``, however many of its URLs are asked (refusals still
  counted each time);
- a guarded request connects to the address the guard checked, never to a fresh answer of
  the name (DNS rebinding), and a name whose answer turned internal between the request's
  check and its connection is refused there: ``http_error``, not retried, nothing sent;
- a kept-alive connection to an internal address (opened for a configured engine) never
  carries a guarded request.

Every socket stays on loopback: the guard is told to take 127.0.0.2 for a public address
(``internal=``), so a listener there stands for "the internet" and one on 127.0.0.1 for the
internal service that must never be reached.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator

import httpx
import pytest

from monitor.core.observation import Status
from monitor.fetch.client import Fetcher, FetchPolicy
from monitor.fetch.guard import GUARD, AddressGuard, IPAddress, Refused, internal_kind
from monitor.fetch.pools import HostPools

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
OUTSIDE = "127.0.0.2"  # what the tests' guard takes for a public address


def outside_is_public(address: IPAddress) -> str | None:
    return None if address == ipaddress.ip_address(OUTSIDE) else internal_kind(address)


class Listener:
    """An HTTP/1.1 server on one loopback address that answers ``ok`` and counts requests."""

    def __init__(self) -> None:
        self.requests = 0
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int = 0) -> Listener:
        self._server = await asyncio.start_server(self._serve, host, port)
        return self

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                self.requests += 1
                writer.write(OK)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def stop(self) -> None:
        assert self._server is not None
        self._server.close()


class Shifty:
    """A resolver whose answers for a name change: each call takes the next one (the last
    one stays); records the names it was asked."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        return [self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]]


@pytest.fixture
async def outside_and_inside() -> AsyncIterator[tuple[Listener, Listener]]:
    """A listener on the "public" 127.0.0.2 and one on 127.0.0.1 at the same port."""
    outside = await Listener().start(OUTSIDE)
    inside = await Listener().start("127.0.0.1", outside.port)
    yield outside, inside
    outside.stop()
    inside.stop()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_a_name_is_resolved_once_per_ttl_and_refusals_still_counted() -> None:
    names = {"cdn.example": ["93.184.216.34"], "intranet.example": ["10.1.2.3"]}
    asked: list[str] = []

    async def resolver(host: str, port: int) -> list[str]:
        asked.append(host)
        return names[host]

    refusals: list[str] = []
    clock = Clock()
    guard = AddressGuard(
        resolver=resolver, on_refusal=lambda h, r: refusals.append(h), ttl=60, monotonic=clock
    )
    for n in range(3):
        assert await guard(httpx.URL(f"https://cdn.example/{n}.jpg")) is None
        assert "private" in (await guard(httpx.URL(f"https://intranet.example/{n}")) or "")
    assert asked == ["cdn.example", "intranet.example"]
    assert refusals == ["intranet.example"] * 3
    clock.now += 61
    assert await guard(httpx.URL("https://cdn.example/late.jpg")) is None
    assert asked == ["cdn.example", "intranet.example", "cdn.example"]


async def test_a_guarded_request_connects_to_the_checked_address_not_a_new_answer(
    outside_and_inside: tuple[Listener, Listener],
) -> None:
    outside, inside = outside_and_inside
    resolver = Shifty(OUTSIDE, "127.0.0.1")  # rebinding: the second answer is internal
    clock = Clock()
    guard = AddressGuard(resolver=resolver, internal=outside_is_public, monotonic=clock)
    policy = FetchPolicy(interval=0.0, retries=0, guard=guard)
    async with Fetcher() as fetcher:
        for n in range(3):
            url = f"http://shifty.example:{outside.port}/{n}.jpg"
            result = await fetcher.fetch(httpx.Request("GET", url), policy)
            assert result.ok, result.reason
        clock.now += 61  # the verdict expires: the name now answers 127.0.0.1
        late = await fetcher.fetch(
            httpx.Request("GET", f"http://shifty.example:{outside.port}/late.jpg"), policy
        )
    assert late.status is Status.HTTP_ERROR
    assert late.reason == "refused: shifty.example (127.0.0.1) is a loopback address"
    assert outside.requests == 3 and inside.requests == 0
    assert resolver.asked == ["shifty.example", "shifty.example"]


async def test_a_name_turned_internal_after_the_check_is_refused_at_connection(
    outside_and_inside: tuple[Listener, Listener],
) -> None:
    outside, inside = outside_and_inside
    resolver = Shifty(OUTSIDE, "127.0.0.1")  # the request's check, then the connection's
    guard = AddressGuard(resolver=resolver, internal=outside_is_public, ttl=0)
    policy = FetchPolicy(interval=0.0, retries=2, guard=guard)
    async with Fetcher() as fetcher:
        url = f"http://shifty.example:{outside.port}/x.jpg"
        result = await fetcher.fetch(httpx.Request("GET", url), policy)
    assert result.status is Status.HTTP_ERROR and result.attempts == 1
    assert result.reason == "refused: shifty.example (127.0.0.1) is a loopback address"
    assert outside.requests == 0 and inside.requests == 0
    assert resolver.asked == ["shifty.example", "shifty.example"]


async def test_a_kept_alive_internal_connection_never_carries_a_guarded_request(
    outside_and_inside: tuple[Listener, Listener],
) -> None:
    _, inside = outside_and_inside
    url = f"http://127.0.0.1:{inside.port}/"
    guard = AddressGuard(resolver=Shifty("127.0.0.1"), internal=outside_is_public)
    async with httpx.AsyncClient(transport=HostPools()) as client:
        assert (await client.get(url)).text == "ok"  # an engine's request: not guarded
        # The guard's own check by URL is skipped here: the transport alone must refuse.
        with pytest.raises(Refused, match="loopback"):
            await client.send(httpx.Request("GET", url + "secret", extensions={GUARD: guard}))
        assert (await client.get(url)).text == "ok"  # the engine's connection still serves
    assert inside.requests == 2
