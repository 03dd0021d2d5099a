"""One round of checks: every series of a source checked concurrently, then stored,
judged and alerted on in one transaction.

The flow of a round (``Rounds.run_round``)::

    series refs -> check.run_check (fetcher -> source.parse) concurrently -> Observation each
      -> each body compressed (or only hashed, when unchanged) as its check ends
      -> one transaction: round row, snapshots, detector step (pure), states, episodes,
         alert rows and their deliveries (store.*, alerts.events)
      -> after the commit: kept thumbnails of the images first seen (evidence, optional)

Writing the round at the end in one transaction is what makes an interrupted round harmless:
either all its snapshots, the detector's new state and the alerts they caused are stored, or
none (SIGTERM and ``kill -9`` included), and the series are simply checked again.

Parsing runs in ``check.pool``'s worker processes (the process's shared pool unless one is
injected): a page too complex to parse within its budgets fails its own check only.

``Rounds`` gets every resource it uses (sessions, config, sources, fetcher, clock, metrics)
from the composition root; it never sees the application object.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

from monitor.check import Parser, run_check, shared_pool
from monitor.config import Config
from monitor.core.clock import Clock
from monitor.core.logs import REASON_MAX, clip
from monitor.core.memory import settle_start
from monitor.evidence.thumbnails import keep_thumbnails
from monitor.fetch.client import Fetcher
from monitor.fetch.guard import AddressGuard, Resolver, configured_hosts, system_resolver
from monitor.fetch.policy import FetchPolicy
from monitor.rounds.commit import Checked, CheckRow, RoundCommit
from monitor.sources.base import Source
from monitor.store.bodies import RawBody
from monitor.store.catalog import SeriesRef
from monitor.store.thumbnails import images_first_seen

if TYPE_CHECKING:
    from monitor.core.metrics import Metrics

logger = logging.getLogger(__name__)
# Bodies up to this size are hashed (and compressed) on the event loop, larger in a thread.
INLINE_BODY = 32 * 1024


class Progress(Protocol):
    """Told once per finished check (the CLI draws a bar with it)."""

    def advance(self, n: int) -> None: ...


class Rounds:
    """Runs rounds of checks with one shared ``Fetcher`` and commits each one whole."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        config: Config,
        sources: Mapping[str, Source],
        fetcher: Fetcher,
        channels: Sequence[str],
        clock: Clock,
        monotonic: Callable[[], float],
        sleep: Callable[[float], Any] | None = None,
        metrics: Metrics | None = None,
        thumbnail_dir: Path | None = None,
        resolver: Resolver = system_resolver,
        parser: Parser | None = None,
    ) -> None:
        # The process's start is over when its first rounds are built: its objects stay.
        settle_start()
        self.sessions = sessions
        # Parsing runs in the process's worker pool, off the event loop and under budgets.
        self.parser = parser or shared_pool()
        self.config = config
        self.sources = sources
        self.fetcher = fetcher
        self.clock = clock
        self.monotonic = monotonic
        self.sleep = sleep or asyncio.sleep
        self.metrics = metrics
        self.thumbnail_dir = thumbnail_dir
        # One guard for the process: a refused host is logged once, however many rounds.
        self.guard = AddressGuard(
            configured_hosts(u for src in sources.values() for u in src.configured_urls()),
            resolver=resolver,
            on_refusal=self._refused,
        )
        self.policies = {
            name: FetchPolicy.from_options(src.options) for name, src in sources.items()
        }
        self.kinds = {src.kind for src in sources.values()}
        families = {name: src.family for name, src in sources.items()}
        self.commit = RoundCommit(sessions, config, families, channels)

    async def check_one(self, ref: SeriesRef, kept_digest: str | None = None) -> Checked:
        """Run one check; never raises for what an engine does. Its body leaves memory at
        once: compressed, or only hashed when it is ``kept_digest`` (the kept healthy body)."""
        source = self.sources[ref.source]
        started = self.clock()
        obs = await run_check(
            source,
            ref.term,
            self.fetcher,
            policy=self.policies[ref.source],
            parser=self.parser,
            monotonic=self.monotonic,
        )
        finished = self.clock()
        if self.metrics is not None:
            self.metrics.observe_check(
                ref.source, obs.status.value, obs.elapsed_ms / 1000, finished.timestamp()
            )
        if logger.isEnabledFor(logging.INFO):  # counting normalises every URL: only if shown
            count = obs.image_count
            logger.info(
                "check %s: %s%s%s (%d page(s), %d ms)",
                ref.label,
                obs.status.value,
                f" {count} images" if count is not None else "",
                f" - {clip(obs.reason, REASON_MAX)}" if obs.reason else "",  # may quote the page
                obs.pages,
                obs.elapsed_ms,
            )
        # Hashed always (the snapshot log names the body), compressed only to keep it. A
        # small body right here (tens of microseconds, less than the hop to a thread); a
        # large one in a thread, where zlib and hashlib work without holding the GIL.
        keep = self.config.evidence.keep_raw
        if obs.raw is not None and len(obs.raw) > INLINE_BODY:
            body = await asyncio.to_thread(RawBody.ready, obs, kept_digest, compress=keep)
        else:
            body = RawBody.ready(obs, kept_digest, compress=keep)
        return Checked(ref, obs, started, finished, body)

    async def run_round(
        self,
        source: str,
        refs: Sequence[SeriesRef],
        *,
        kind: str = "scheduled",
        progress: Progress | None = None,
        offsets: Sequence[float] | None = None,
    ) -> list[CheckRow]:
        """Check ``refs`` (all on ``source``) and commit the round; returns its rows.

        ``offsets`` delay each check's start (seconds), spreading a round over time.
        """
        started = self.clock()
        self.parser.prepare(self.kinds)  # a worker's start overlaps the first fetches
        delays = list(offsets) if offsets is not None else [0.0] * len(refs)
        kept = await asyncio.to_thread(self.commit.kept_digests, [r.series_id for r in refs])

        async def one(ref: SeriesRef, delay: float) -> Checked:
            if delay > 0:
                await self.sleep(delay)
            result = await self.check_one(ref, kept.get(ref.series_id))
            if progress is not None:
                progress.advance(1)
            return result

        checked = await asyncio.gather(*(one(r, d) for r, d in zip(refs, delays, strict=True)))
        rows = await asyncio.to_thread(self.commit, source, list(checked), started, kind)
        if self.config.evidence.keep_thumbnails:
            await self._keep_thumbnails(started)
        return rows

    async def run_all(
        self, refs: Sequence[SeriesRef], *, progress: Progress | None = None
    ) -> list[CheckRow]:
        """One round per source, all sources at once (each host keeps its own pace)."""
        by_source: dict[str, list[SeriesRef]] = defaultdict(list)
        for ref in refs:
            by_source[ref.source].append(ref)
        rounds = await asyncio.gather(
            *(self.run_round(s, r, kind="manual", progress=progress) for s, r in by_source.items())
        )
        return [row for rows in rounds for row in rows]

    def _refused(self, host: str, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.refused.inc()

    async def _keep_thumbnails(self, since: datetime) -> None:
        """Local copies of the thumbnails first seen in this round (evidence, optional).

        After the round's commit, so a slow thumbnail host never holds up its snapshots.
        """

        def first_seen() -> list[Any]:
            with self.sessions() as session:
                return list(images_first_seen(session, since))

        images = await asyncio.to_thread(first_seen)
        kept = await keep_thumbnails(
            self.sessions,
            self.fetcher,
            images,
            settings=self.config.evidence,
            directory=self.thumbnail_dir,
            clock=self.clock,
            guard=self.guard,
        )
        if kept:
            logger.info("kept %d new thumbnail(s)", kept)
