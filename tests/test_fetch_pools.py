"""One connection pool per host (``monitor.fetch.pools``): connections kept open and reused
between requests, one pool per origin, the least recently used idle pool closed when
there are too many, and never a pool with a request in flight.

Against small HTTP/1.1 servers on 127.0.0.1 that count the connections they accept and
see close: keep-alive is only visible on real sockets.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from monitor.fetch.client import Fetcher, FetchPolicy
from monitor.fetch.pools import HostPools

_REPLY = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"


class Counting:
    """An HTTP/1.1 server on 127.0.0.1 answering ``ok`` to every request, on the same
    connection as long as the client keeps it; counts connections opened and closed."""

    def __init__(self) -> None:
        self.opened = 0
        self.closed = asyncio.Event()
        self.requests = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> Counting:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.opened += 1
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                self.requests += 1
                writer.write(_REPLY)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.closed.set()
            writer.close()

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()


@pytest.fixture
async def servers() -> AsyncIterator[list[Counting]]:
    started = [await Counting().start() for _ in range(3)]
    yield started
    for server in started:
        await server.stop()


async def _get(client: httpx.AsyncClient, url: str) -> None:
    response = await client.get(url)
    assert response.text == "ok"


async def test_requests_to_one_host_reuse_one_kept_alive_connection(
    servers: list[Counting],
) -> None:
    async with httpx.AsyncClient(transport=HostPools()) as client:
        for _ in range(5):
            await _get(client, servers[0].url)
    assert servers[0].requests == 5 and servers[0].opened == 1


async def test_each_host_has_its_own_pool(servers: list[Counting]) -> None:
    pools = HostPools()
    async with httpx.AsyncClient(transport=pools) as client:
        for server in servers:
            await _get(client, server.url)
            await _get(client, server.url)
        assert len(pools) == 3
    assert [s.opened for s in servers] == [1, 1, 1]


async def test_least_recently_used_idle_pool_is_closed_past_the_limit(
    servers: list[Counting],
) -> None:
    first, second, third = servers
    pools = HostPools(max_pools=2)
    async with httpx.AsyncClient(transport=pools) as client:
        await _get(client, first.url)
        await _get(client, second.url)
        await _get(client, first.url)  # now the second is the least recently used
        await _get(client, third.url)
        await asyncio.wait_for(second.closed.wait(), 5)
        assert len(pools) == 2 and not first.closed.is_set()
        await _get(client, first.url)
    assert first.opened == 1  # its connection outlived the eviction next to it


async def test_a_pool_with_a_request_in_flight_is_never_closed(servers: list[Counting]) -> None:
    first, second, third = servers
    pools = HostPools(max_pools=1)
    async with httpx.AsyncClient(transport=pools) as client:
        request = client.build_request("GET", first.url)
        streamed = await client.send(request, stream=True)  # its body not read yet
        await _get(client, second.url)  # no idle pool to close: one more for now
        assert len(pools) == 2 and not first.closed.is_set()
        assert await streamed.aread() == b"ok"
        await streamed.aclose()
        await _get(client, third.url)  # now idle pools leave
        assert len(pools) == 1
    await asyncio.wait_for(first.closed.wait(), 5)


async def test_fetcher_keeps_connections_across_rounds_of_checks(
    servers: list[Counting], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)  # the real client reads them: loopback only
    policy = FetchPolicy(interval=0.0, concurrency=4)
    async with Fetcher() as fetcher:
        for _ in range(3):  # rounds: their checks run concurrently, four at a time
            results = await asyncio.gather(
                *(fetcher.fetch(httpx.Request("GET", servers[0].url), policy) for _ in range(4))
            )
            assert all(r.ok for r in results)
    assert servers[0].requests == 12
    assert servers[0].opened <= policy.concurrency
