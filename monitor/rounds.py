"""One round of checks: fetch every series of a source, then store, detect and enqueue in
one transaction.

The flow of a round (``Pipeline.run_round``)::

    series refs -> run_check (fetcher -> source.parse) concurrently -> Observation per series
      -> one transaction: round row, snapshots (store), detector step (pure), episodes,
         alert rows and deliveries (outbox)

Writing the round at the end in one transaction is what makes an interrupted round harmless:
either all its snapshots, the detector's new state and the alerts they caused are stored, or
none (SIGTERM and ``kill -9`` included), and the series are simply checked again.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from monitor.check import run_check
from monitor.core.observation import Observation
from monitor.fetch.client import Fetcher
from monitor.fetch.policy import FetchPolicy
from monitor.store.catalog import SeriesRef

if TYPE_CHECKING:
    from monitor.app import App

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckRow:
    """One line of the table ``check`` prints at the end."""

    person: str
    term: str
    source: str
    role: str
    status: str
    count: int | None
    baseline: float | None
    reason: str | None
    state: str
    snapshot_id: int | None


@dataclass(frozen=True)
class Checked:
    """A finished check, waiting to be written with the rest of its round."""

    ref: SeriesRef
    observation: Observation
    started_at: datetime
    finished_at: datetime


class Pipeline:
    """Runs rounds for an ``App`` with one shared ``Fetcher``."""

    def __init__(self, app: App, fetcher: Fetcher) -> None:
        self.app = app
        self.fetcher = fetcher
        self.policies = {
            name: FetchPolicy.from_options(src.options) for name, src in app.sources.items()
        }

    async def check_one(self, ref: SeriesRef) -> Checked:
        """Run one check; never raises for what an engine does."""
        source = self.app.sources[ref.source]
        started = self.app.clock()
        obs = await run_check(
            source,
            ref.term,
            self.fetcher,
            policy=self.policies[ref.source],
            monotonic=self.app.monotonic,
        )
        finished = self.app.clock()
        if self.app.metrics is not None:
            self.app.metrics.observe_check(
                ref.source, obs.status.value, obs.elapsed_ms / 1000, finished.timestamp()
            )
        logger.info(
            "check %s: %s%s%s (%d page(s), %d ms)",
            ref.label,
            obs.status.value,
            f" {obs.image_count} images" if obs.image_count is not None else "",
            f" - {obs.reason}" if obs.reason else "",
            obs.pages,
            obs.elapsed_ms,
        )
        return Checked(ref, obs, started, finished)

    async def run_round(
        self,
        source: str,
        refs: Sequence[SeriesRef],
        *,
        kind: str = "scheduled",
        progress: object | None = None,
        offsets: Sequence[float] | None = None,
    ) -> list[CheckRow]:
        """Check ``refs`` (all on ``source``) and commit the round; returns its rows.

        ``offsets`` delay each check's start (seconds), spreading a round over time.
        """
        started = self.app.clock()
        sleep = self.app.sleep or asyncio.sleep
        delays = list(offsets) if offsets is not None else [0.0] * len(refs)

        async def one(ref: SeriesRef, delay: float) -> Checked:
            if delay > 0:
                await sleep(delay)
            result = await self.check_one(ref)
            if progress is not None:
                progress.advance(1)  # type: ignore[attr-defined]
            return result

        checked = await asyncio.gather(*(one(r, d) for r, d in zip(refs, delays, strict=True)))
        from monitor.store.rounds import write_round

        rows = await asyncio.to_thread(write_round, self.app, source, list(checked), started, kind)
        if self.app.config.evidence.keep_thumbnails:
            await self._keep_thumbnails(started)
        return rows

    async def _keep_thumbnails(self, since: datetime) -> None:
        """Local copies of the thumbnails first seen in this round (evidence, optional).

        After the round's commit, so a slow thumbnail host never holds up its snapshots.
        """
        from sqlalchemy import select

        from monitor.evidence.thumbnails import keep_thumbnails
        from monitor.store.models import Image

        with self.app.sessions() as session:
            images = list(session.scalars(select(Image).where(Image.first_seen >= since)))
        kept = await keep_thumbnails(self.app, self.fetcher, images)
        if kept:
            logger.info("kept %d new thumbnail(s)", kept)

    async def run_all(self, refs: Sequence[SeriesRef], *, progress: bool = False) -> list[CheckRow]:
        """One round per source, all sources at once (each host keeps its own pace)."""
        by_source: dict[str, list[SeriesRef]] = defaultdict(list)
        for ref in refs:
            by_source[ref.source].append(ref)
        bar = _progress(len(refs)) if progress else None
        try:
            rounds = await asyncio.gather(
                *(self.run_round(s, r, kind="manual", progress=bar) for s, r in by_source.items())
            )
        finally:
            if bar is not None:
                bar.close()
        return [row for rows in rounds for row in rows]


class _Bar:
    def __init__(self, total: int) -> None:
        from rich.progress import Progress

        self._p = Progress(transient=True, console=None)
        self._p.start()
        self._task = self._p.add_task("checking", total=total)

    def advance(self, n: int) -> None:
        self._p.advance(self._task, n)

    def close(self) -> None:
        self._p.stop()


def _progress(total: int) -> _Bar | None:
    return _Bar(total) if sys.stderr.isatty() else None
