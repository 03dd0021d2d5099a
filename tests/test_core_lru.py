"""The bounded caches: the least recently used entry leaves, and the fetcher's per-host
state (limiters, cookies) stays within its size."""

from __future__ import annotations

import httpx

from monitor.core.lru import LRU
from monitor.fetch.client import Fetcher
from monitor.fetch.policy import FetchPolicy


def test_the_least_recently_used_entry_leaves_and_is_reported() -> None:
    gone: list[tuple[str, int]] = []
    cache: LRU[str, int] = LRU(2, lambda k, v: gone.append((k, v)))
    cache["a"], cache["b"] = 1, 2
    assert cache.get("a") == 1  # "a" is now the most recent
    cache["c"] = 3
    assert gone == [("b", 2)] and "b" not in cache and len(cache) == 2
    assert cache.setdefault("a", 9) == 1 and cache.get("c") == 3


async def test_the_fetcher_keeps_a_bounded_number_of_hosts_and_their_cookies() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Set-Cookie": "sid=1; Path=/"}, text="ok")

    fetcher = Fetcher(transport=httpx.MockTransport(handler), max_hosts=3)
    policy = FetchPolicy(interval=0.0, concurrency=1, retries=0)
    async with fetcher:
        for n in range(10):
            result = await fetcher.fetch(httpx.Request("GET", f"https://h{n}.test/"), policy)
            assert result.ok
        jar = fetcher.client(None).cookies.jar
        assert len(fetcher._hosts) == 3
        assert sorted(c.domain for c in jar) == ["h7.test", "h8.test", "h9.test"]
