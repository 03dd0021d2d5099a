"""Session warm-ups: the request an engine wants before it answers queries (cookies).

Baidu's ``acjson`` answers ``antiFlag:1`` to a client without the cookies its home page
hands out, and stops honouring them after a while (SearXNG, ``searx/engines/baidu.py`` at
b084194c, caches them for an hour). ``Warmups`` keeps, per key (a source's name):

- whether the last warm-up succeeded, when, and its *generation* (a counter that changes
  with every warm-up sent, so a check can tell whether its cookies are still the current
  ones);
- ``ensure``: sends the warm-up once, again when it is older than ``max_age``, and after a
  failure at most every ``retry_after`` seconds (a down engine is not hammered);
- ``renewal``: a fresh warm-up after the engine said the session is no longer valid.
  Checks refused on the same generation share one renewal: the first sends it and keeps
  the key locked while it asks again; the others wait, then use the new session, or, if
  it was refused at once (``futile``), send nothing for ``retry_after`` seconds. So an
  engine that never gives a usable cookie costs two warm-ups and one extra request per
  round, not a loop.

Every warm-up goes through the fetcher, so it takes the host's politeness slots like any
other request. Before a warm-up is re-sent, the cookies the host would receive are
dropped: a stale session cookie sent along would only get the stale session back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from http.cookiejar import CookieJar
from typing import NamedTuple, TypeVar

import httpx

from monitor.core.logs import clip
from monitor.core.lru import LRU
from monitor.fetch.policy import FetchPolicy, FetchResult, Monotonic

logger = logging.getLogger(__name__)

Send = Callable[[httpx.Request, FetchPolicy], Awaitable[FetchResult]]
T = TypeVar("T")


class Fresh(NamedTuple):
    """A session to ask again with: its generation, and whether this caller warmed it up."""

    generation: int
    sent: bool


@dataclass(frozen=True, slots=True)
class _State:
    ok: bool
    when: float
    generation: int
    futile_until: float = float("-inf")


class Warmups:
    """Warm-up state per key; see the module docstring."""

    def __init__(
        self,
        send: Send,
        jars: Callable[[], Iterable[CookieJar]],
        *,
        monotonic: Monotonic,
        retry_after: float,
        max_keys: int,
    ) -> None:
        self._send = send
        self._jars = jars
        self._monotonic = monotonic
        self.retry_after = retry_after
        self._state: LRU[str, _State] = LRU(max_keys)
        self._locks: LRU[str, asyncio.Lock] = LRU(max_keys)

    async def ensure(
        self,
        key: str,
        request: httpx.Request | None,
        policy: FetchPolicy,
        max_age: float | None = None,
    ) -> int:
        """Warm ``key`` up unless it is fresh; return the generation now in use."""
        if request is None:
            return 0
        state = self._state.get(key)
        if state is not None and self._fresh(state, max_age):
            return state.generation
        async with self._lock(key):
            state = self._state.get(key)
            if state is not None and self._fresh(state, max_age):
                return state.generation
            if state is not None and state.ok:
                logger.info("session of %s is older than %gs: warming up again", key, max_age)
            return await self._warm(key, request, policy, state)

    def generation(self, key: str) -> int:
        """The generation of the session requests for ``key`` are sent with now."""
        state = self._state.get(key)
        return state.generation if state is not None else 0

    @asynccontextmanager
    async def renewal(
        self, key: str, request: httpx.Request, policy: FetchPolicy, seen: int, *, send: bool
    ) -> AsyncIterator[Fresh | None]:
        """A session to ask again with after the engine refused generation ``seen``.

        Yields a newer generation another check already got (``sent`` false), or, when
        ``send``, a fresh one this call warmed up (``sent`` true: the key stays locked
        until the block ends, so other refused checks wait to see whether the new session
        works before they use it). Yields ``None`` while renewals are futile, or when
        ``seen`` is current and ``send`` is false.
        """
        async with self._lock(key):
            state = self._state.get(key)
            fresh: Fresh | None = None
            if state is not None and self._monotonic() < state.futile_until:
                pass
            elif state is not None and state.generation != seen:
                fresh = Fresh(state.generation, sent=False)
            elif send:
                logger.info("%s refused its session: warming up again", key)
                fresh = Fresh(await self._warm(key, request, policy, state), sent=True)
                yield fresh  # still locked: the new session is on probation
                return
        yield fresh

    async def ask_renewing(
        self,
        key: str,
        warmup: Callable[[], httpx.Request | None],
        policy: FetchPolicy,
        ask: Callable[[], Awaitable[T]],
        refused: Callable[[T], bool],
        *,
        renewed: bool,
        max_asks: int,
    ) -> tuple[T, bool]:
        """``ask()``, and while its answer is ``refused``, ask again with a renewed session:
        at most ``max_asks`` times, sending a renewal only if not ``renewed`` yet.

        Returns the last answer and whether a renewal has now been sent. A renewal this
        call sent whose first answer is refused again makes renewals ``futile``.
        """
        session = self.generation(key)  # ask() sends the jar's cookies of this generation
        answer, asks = await ask(), 1
        while refused(answer) and asks < max_asks and (request := warmup()) is not None:
            async with self.renewal(key, request, policy, session, send=not renewed) as fresh:
                if fresh is None:
                    break
                renewed = renewed or fresh.sent
                session = fresh.generation
                answer, asks = await ask(), asks + 1
                if fresh.sent and refused(answer):
                    self.futile(key)
        return answer, renewed

    def futile(self, key: str) -> None:
        """A renewed session was refused too: send no renewal for ``retry_after`` s."""
        state = self._state.get(key)
        if state is not None:
            until = self._monotonic() + self.retry_after
            self._state[key] = _State(state.ok, state.when, state.generation, until)
            logger.warning(
                "%s refused a fresh session too; no new warm-up for %gs", key, self.retry_after
            )

    def _fresh(self, state: _State, max_age: float | None) -> bool:
        age = self._monotonic() - state.when
        if not state.ok:
            return age < self.retry_after
        return max_age is None or age < max_age

    async def _warm(
        self, key: str, request: httpx.Request, policy: FetchPolicy, state: _State | None
    ) -> int:
        if state is not None:
            drop_cookies(self._jars(), request.url.host)
        result = await self._send(request, policy)
        generation = (state.generation if state else 0) + 1
        futile = state.futile_until if state else float("-inf")
        self._state[key] = _State(result.ok, self._monotonic(), generation, futile)
        if not result.ok:
            logger.info("warm-up for %s failed: %s", key, clip(result.reason))
        return generation

    def _lock(self, key: str) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())


def drop_cookies(jars: Iterable[CookieJar], host: str) -> None:
    """Drop every cookie a request to ``host`` would carry (its own and its parents')."""
    host = host.lower()
    for jar in jars:
        for cookie in list(jar):
            domain = cookie.domain.lstrip(".").lower()
            if host == domain or host.endswith("." + domain):
                jar.clear(cookie.domain, cookie.path, cookie.name)
