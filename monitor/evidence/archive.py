"""The archive job (``evidence.archive.wayback``, off by default): what the monitor saw is
copied to the Internet Archive, so a reader can check it somewhere the monitor does not control.

Each ``Archiver.step`` (the daemon runs one every ``poll_every``):

1. collects what the rounds stored since the last step into the queue
   (``monitor.store.archive.collect``: pages of a watched person's images when first seen,
   the engine's result URL at each confirmed drop);
2. asks the status of submitted jobs that are due (a job still pending after
   ``give_up_after`` goes back to the queue);
3. submits queued captures, drops first, within the budget ``rate`` (counted from the
   table, so a restart neither resets nor loses it); a rate-limit answer ends the step's
   submissions and delays that capture (``Retry-After`` when given, else backoff).

Only a capture the status endpoint confirmed is ``archived``; a URL the archive refuses for
good is ``failed`` with its reason, as is one that used up ``max_attempts`` submissions.
Refused keys pause the job for an hour (logged once per process): a configuration problem.
Database work runs in threads (never on the event loop); the step never raises for what the
archive or the network does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from monitor.config import WaybackConfig
from monitor.core.backoff import backoff_delay
from monitor.core.clock import Clock
from monitor.core.logs import clip
from monitor.evidence.wayback import Answer, SavePageNow
from monitor.store import archive as queue
from monitor.store.models import ArchiveCapture

logger = logging.getLogger(__name__)
PAUSE_ON_REFUSAL = timedelta(hours=1)
MAX_BACKOFF = 6 * 3600.0


@dataclass
class StepCounts:
    """What one step did."""

    queued: int = 0
    submitted: int = 0
    archived: int = 0
    failed: int = 0
    retried: int = 0
    pending: int = 0
    reasons: list[str] = field(default_factory=list)


class Archiver:
    """Runs the queue against one SPN2 client (see the module's contract)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: WaybackConfig,
        client: SavePageNow,
        clock: Clock,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.client = client
        self.clock = clock
        self._paused_until: datetime | None = None
        self._refusal_logged = False

    async def step(self) -> StepCounts:
        """One pass: collect, poll, submit."""
        counts = StepCounts()
        now = self.clock()
        counts.queued = await asyncio.to_thread(self._collect, now)
        if self._paused_until is not None and now < self._paused_until:
            return counts
        if not await self._poll(now, counts):
            return counts
        await self._submit(now, counts)
        if counts.queued or counts.submitted or counts.archived or counts.failed:
            logger.info(
                "archive: %d queued, %d submitted, %d archived, %d failed, %d retried",
                counts.queued,
                counts.submitted,
                counts.archived,
                counts.failed,
                counts.retried,
            )
        return counts

    def _collect(self, now: datetime) -> int:
        with self.sessions() as session, session.begin():
            return queue.collect(
                session, now, first_seen=self.settings.first_seen, drops=self.settings.drops
            )

    def _write(self, fn: Callable[..., None], *args: Any, **kwargs: Any) -> None:
        with self.sessions() as session, session.begin():
            fn(session, *args, **kwargs)

    def _refused(self, now: datetime, answer: Answer) -> None:
        self._paused_until = now + PAUSE_ON_REFUSAL
        if not self._refusal_logged:
            logger.error(
                "archive: the Internet Archive refused our keys (%s); archiving paused for an "
                "hour at a time until evidence.archive.wayback keys are fixed",
                clip(answer.reason),
            )
            self._refusal_logged = True

    async def _poll(self, now: datetime, counts: StepCounts) -> bool:
        """Ask about due jobs; False when the keys were refused."""
        rows = await asyncio.to_thread(self._read, queue.polls_due, now)
        for row in rows:
            assert row.job_id is not None  # a submitted row always has one
            answer = await self.client.status(row.job_id, row.url)
            if answer.kind == "refused":
                self._refused(now, answer)
                return False
            if answer.kind == "archived":
                assert answer.timestamp and answer.archive_url
                await asyncio.to_thread(
                    self._write,
                    queue.mark_archived,
                    row.id,
                    answer.timestamp,
                    answer.archive_url,
                    now,
                )
                counts.archived += 1
                logger.info("archive: %s archived as %s", clip(row.url), clip(answer.archive_url))
            elif answer.kind == "failed":
                await self._fail(row.id, row.url, answer.reason, counts)
            elif answer.resubmit:
                await self._again(now, row, answer, counts, counted=False)
            elif row.submitted_at and now - row.submitted_at > self.settings.give_up_after:
                gave_up = Answer("retry", reason="the job was still pending; submitted again")
                await self._again(now, row, gave_up, counts, counted=False)
            else:
                counts.pending += 1
                await asyncio.to_thread(
                    self._write, queue.mark_polled, row.id, now + self.settings.poll_every
                )
        return True

    async def _submit(self, now: datetime, counts: StepCounts) -> None:
        rate = self.settings.rate
        used = await asyncio.to_thread(self._read_count, now - rate.per)
        rows = await asyncio.to_thread(self._read, queue.due, now, rate.requests - used)
        for row in rows:
            answer = await self.client.submit(row.url)
            if answer.kind == "submitted":
                assert answer.job_id is not None
                await asyncio.to_thread(
                    self._write,
                    queue.mark_submitted,
                    row.id,
                    answer.job_id,
                    now,
                    now + self.settings.poll_every,
                )
                counts.submitted += 1
                continue
            if answer.kind == "refused":
                self._refused(now, answer)
                return
            if answer.kind == "failed":
                await self._fail(row.id, row.url, answer.reason, counts)
            else:
                await self._again(now, row, answer, counts, counted=not answer.rate_limited)
            if answer.rate_limited:
                return

    async def _again(
        self,
        now: datetime,
        row: ArchiveCapture,
        answer: Answer,
        counts: StepCounts,
        *,
        counted: bool,
    ) -> None:
        """Back to the queue after a transient answer, or failed once out of submissions.
        ``counted``: this answer used up a submission (a rate-limit refusal does not; a
        submission that was accepted was counted when it was)."""
        attempts = row.attempts + (1 if counted else 0)
        if attempts >= self.settings.max_attempts:
            reason = f"gave up after {attempts} submissions: {answer.reason}"
            await self._fail(row.id, row.url, reason, counts)
            return
        delay = answer.retry_after or backoff_delay(
            max(attempts, 1), base=self.settings.poll_every.total_seconds(), cap=MAX_BACKOFF
        )
        await asyncio.to_thread(
            self._write,
            queue.mark_retry,
            row.id,
            now + timedelta(seconds=delay),
            answer.reason,
            counted=counted,
        )
        counts.retried += 1
        counts.reasons.append(answer.reason)
        shown, why = clip(row.url), clip(answer.reason)  # scraped URL, the archive's words
        logger.info("archive: %s not yet: %s; next try in %.0fs", shown, why, delay)

    async def _fail(self, capture_id: int, url: str, reason: str, counts: StepCounts) -> None:
        await asyncio.to_thread(self._write, queue.mark_failed, capture_id, reason)
        counts.failed += 1
        counts.reasons.append(reason)
        logger.warning("archive: %s will not be archived: %s", clip(url), clip(reason))

    def _read(self, fn: Callable[..., list[ArchiveCapture]], *args: Any) -> list[ArchiveCapture]:
        with self.sessions() as session:
            rows = fn(session, *args)
            session.expunge_all()
            return rows

    def _read_count(self, since: datetime) -> int:
        with self.sessions() as session:
            return queue.submitted_since(session, since)

    async def aclose(self) -> None:
        await self.client.aclose()
