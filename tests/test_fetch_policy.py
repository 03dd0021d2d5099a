"""Politeness (``monitor.fetch.policy``): per-host spacing with jitter, hosts that do not wait
for one another, retries that take rate slots, a policy from a source's options, and the
network reason read from the OS error underneath.

Time never passes for real: sleeps are recorded by ``tests.helpers.fetch.FakeTime``.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import socket

import httpx

from monitor.fetch.client import Fetcher, FetchPolicy
from monitor.fetch.limiter import HostLimiter
from monitor.fetch.retry import network_reason
from monitor.sources.base import SourceOptions
from tests.helpers.fetch import FakeTime, get, make_fetcher

# --- politeness and concurrency -------------------------------------------------------


async def test_requests_to_one_host_are_spaced_by_the_interval() -> None:
    time = FakeTime()
    sent_at: list[float] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        sent_at.append(time.now)
        return httpx.Response(200)

    policy = FetchPolicy(interval=5.0, concurrency=4)
    async with make_fetcher(handler, time) as fetcher:
        for i in range(4):
            assert (await fetcher.fetch(get(f"https://engine.test/{i}"), policy)).ok
    assert [t - sent_at[0] for t in sent_at] == [0.0, 5.0, 10.0, 15.0]


async def test_jitter_only_lengthens_the_gap() -> None:
    time = FakeTime(advance=False)
    limiter = HostLimiter(
        5.0, 1, sleep=time.sleep, monotonic=time.monotonic, rng=random.Random(7), jitter=0.25
    )
    for _ in range(20):
        async with limiter.slot():
            pass
    gaps = [b - a for a, b in zip([0.0, *time.sleeps], time.sleeps, strict=False)]
    assert all(5.0 <= g <= 6.25 for g in gaps)
    assert len(set(gaps)) > 1  # there is jitter


async def test_two_hosts_are_not_serialized() -> None:
    time = FakeTime(advance=False)  # every sleep is then the wait its slot was given

    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200)

    policy = FetchPolicy(interval=5.0, concurrency=4)
    urls = [f"https://{host}.test/{i}" for host in ("a", "b") for i in range(3)]
    async with make_fetcher(handler, time) as fetcher:
        results = await asyncio.gather(*(fetcher.fetch(get(u), policy) for u in urls))
    assert all(r.ok for r in results)
    assert sorted(time.sleeps) == [5.0, 5.0, 10.0, 10.0]  # serialized would reach 25s


async def test_retries_take_the_hosts_rate_slots() -> None:
    time = FakeTime()
    sent_at: list[float] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        sent_at.append(time.now)
        return httpx.Response(500 if len(sent_at) < 3 else 200)

    async with make_fetcher(handler, time) as fetcher:
        assert (await fetcher.fetch(get(), FetchPolicy(interval=5.0))).ok
    gaps = [b - a for a, b in itertools.pairwise(sent_at)]
    assert all(g >= 5.0 for g in gaps)


class SleepUntilAnswered(FakeTime):
    """Fake time whose sleeps also last until the first request has its answer."""

    def __init__(self) -> None:
        super().__init__()
        self.answered = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await self.answered.wait()


async def test_a_request_waiting_for_its_start_honours_a_retry_after_given_meanwhile() -> None:
    time = SleepUntilAnswered()
    sent_at: list[float] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        sent_at.append(time.now)
        await asyncio.sleep(0)  # the second request takes its start meanwhile
        return httpx.Response(429, headers={"Retry-After": "3"})

    policy = FetchPolicy(interval=1.0, concurrency=2, retries=0)
    async with make_fetcher(handler, time) as fetcher:
        first = asyncio.create_task(fetcher.fetch(get("https://engine.test/1"), policy))
        second = asyncio.create_task(fetcher.fetch(get("https://engine.test/2"), policy))
        await first
        time.answered.set()
        await second
    # The second had its start at +1 s when the first was told to wait 3 s: it waits them.
    assert sent_at[1] - sent_at[0] >= 3.0


async def test_the_gate_is_asked_only_once_the_hosts_slot_is_held() -> None:
    events: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        events.append(f"send {request.url.path}")
        await asyncio.sleep(0)
        return httpx.Response(200)

    async def gate() -> None:
        events.append("gate")

    policy = FetchPolicy(interval=0.0, concurrency=1, retries=0)
    async with make_fetcher(handler) as fetcher:
        urls = [f"https://engine.test/{i}" for i in range(3)]
        await asyncio.gather(*(fetcher.fetch(get(u), policy, gate=gate) for u in urls))
    # Queued for the host's one slot, a request has not passed the gate (the parse pool's
    # backpressure would let every queued check through at once and hold all their bodies).
    assert events == ["gate", "send /0", "gate", "send /1", "gate", "send /2"]


async def test_a_hanging_host_does_not_delay_another_host() -> None:
    hang = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "slow.test":
            await hang.wait()  # never set
        return httpx.Response(200, text="fast")

    policy = FetchPolicy(interval=5.0, concurrency=1, retries=0)
    async with Fetcher(transport=httpx.MockTransport(handler)) as fetcher:
        stuck = [
            asyncio.create_task(fetcher.fetch(get(f"https://slow.test/{i}"), policy))
            for i in range(3)
        ]
        await asyncio.sleep(0)
        result = await asyncio.wait_for(fetcher.fetch(get("https://quick.test/"), policy), 1.0)
        assert result.ok and not any(t.done() for t in stuck)
        for t in stuck:
            t.cancel()
        await asyncio.gather(*stuck, return_exceptions=True)


# --- policies and reasons -------------------------------------------------------------


def test_policy_from_options_converts_units() -> None:
    opts = SourceOptions(kind="fake", rate="2/10s", timeout="30s", max_bytes=5000, retries=1)
    policy = FetchPolicy.from_options(opts)
    assert (policy.interval, policy.timeout, policy.connect_timeout) == (5.0, 30.0, 10.0)
    assert (policy.max_bytes, policy.retries, policy.concurrency) == (5000, 1, 1)


def test_network_reason_reads_the_os_error_underneath() -> None:
    def chained(outer: Exception, inner: BaseException) -> Exception:
        outer.__cause__ = inner
        return outer

    refused = chained(
        httpx.ConnectError("All connection attempts failed"), ConnectionRefusedError()
    )
    dns = chained(httpx.ConnectError("lookup"), socket.gaierror(-2, "Name or service not known"))
    assert network_reason(refused) == "connection refused"
    assert network_reason(dns) == "DNS lookup failed"
    assert network_reason(httpx.RemoteProtocolError("peer closed")) == (
        "RemoteProtocolError: peer closed"
    )
