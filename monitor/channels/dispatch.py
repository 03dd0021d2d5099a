"""The dispatcher: sends what the outbox holds, once, and records every attempt.

``Dispatcher.step()`` is one pass: claim due messages, send each through its channel, record
the attempt, schedule a retry with bounded exponential backoff and jitter for transient
failures, and give up after ``max_attempts`` (state ``failed``, visible in ``alerts list``).
It reports how many messages it handled, so the daemon's job and the tests can tell whether
it did work. Channels own no retry logic; they raise ``ChannelError`` (STYLE.md, 10).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from monitor.alerts.payload import Message, upgrade
from monitor.channels.base import Channel
from monitor.core.backoff import Jitter, backoff_delay
from monitor.core.clock import Clock
from monitor.core.errors import ChannelError
from monitor.core.masking import mask
from monitor.store import outbox

logger = logging.getLogger(__name__)


# Deliveries spread ±20% around the nominal delay: alerts that failed together (a receiver
# down) do not all retry in the same second, and a user reading "retry at" is not misled.
DELIVERY_JITTER: Jitter = (0.8, 1.2)


@dataclass
class RetryPolicy:
    """Backoff ``base * 2**(attempt-1)`` capped at ``cap``, jittered ±20%; ``max_attempts``."""

    max_attempts: int = 12
    base: timedelta = timedelta(seconds=30)
    cap: timedelta = timedelta(hours=1)
    rng: random.Random = field(default_factory=random.Random)

    def next_attempt(self, attempts_done: int, now: datetime) -> datetime | None:
        """When to try again after ``attempts_done`` attempts, or None to give up."""
        if attempts_done >= self.max_attempts:
            return None
        delay = backoff_delay(
            attempts_done,
            base=self.base.total_seconds(),
            cap=self.cap.total_seconds(),
            jitter=DELIVERY_JITTER,
            rng=self.rng,
        )
        return now + timedelta(seconds=delay)


@dataclass
class DispatchResult:
    """What one pass did, per outcome."""

    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    skipped: int = 0  # claimed by another dispatcher first

    @property
    def handled(self) -> int:
        return self.delivered + self.retrying + self.failed


class Dispatcher:
    """Sends outbox messages through ``channels`` (name -> Channel)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        channels: Mapping[str, Channel],
        *,
        clock: Clock,
        policy: RetryPolicy | None = None,
        owner: str | None = None,
        concurrency: int = 4,
    ) -> None:
        self.sessions = sessions
        self.channels = dict(channels)
        self.clock = clock
        self.policy = policy or RetryPolicy()
        self.owner = owner or outbox.instance_id()
        self._limit = asyncio.Semaphore(max(1, concurrency))
        self.on_delivered: list[Any] = []  # callbacks(batch, state, error) for logs/metrics

    async def step(self) -> DispatchResult:
        """One pass over the due messages."""
        result = DispatchResult()
        now = self.clock()

        def due() -> list[outbox.Batch]:
            with self.sessions() as session:
                return list(outbox.due_batches(session, now))

        # Every database call of the dispatcher runs in a thread: the event loop keeps the
        # checks' clocks honest while a round holds the write lock.
        batches = await asyncio.to_thread(due)
        if not batches:
            return result

        async def one(batch: outbox.Batch) -> None:
            async with self._limit:
                await self._deliver(batch, result)

        await asyncio.gather(*(one(b) for b in batches))
        return result

    async def _deliver(self, batch: outbox.Batch, result: DispatchResult) -> None:
        started = self.clock()

        def claim() -> bool:
            with self.sessions() as session, session.begin():
                if outbox.claim(session, batch, self.owner, started):
                    return True
                session.rollback()
                return False

        if not await asyncio.to_thread(claim):
            result.skipped += 1
            return
        error: str | None = None
        permanent = False
        channel = self.channels.get(batch.channel)
        if channel is None:
            error, permanent = f"channel {batch.channel} is no longer configured", True
        else:
            # An alert queued before an upgrade goes out in the current schema.
            payloads = [upgrade(p) for p in batch.payloads]
            message = Message(batch.delivery_uuid, payloads, batch.channel)
            try:
                await channel.send(message)
            except ChannelError as exc:
                error, permanent = mask(exc.message), exc.permanent
            except Exception as exc:  # a bug in a channel must not lose the alert
                logger.exception("channel %s raised", batch.channel)
                error = f"{type(exc).__name__}: {mask(str(exc))}"
        finished = self.clock()
        attempts = batch.attempts + 1
        retry_at = None if permanent else self.policy.next_attempt(attempts, finished)

        def record() -> str:
            with self.sessions() as session, session.begin():
                return outbox.record_attempt(
                    session,
                    batch,
                    started=started,
                    finished=finished,
                    error=error,
                    permanent=permanent,
                    next_attempt_at=retry_at,
                    owner=self.owner,
                )

        state = await asyncio.to_thread(record)
        events = ",".join(sorted({str(p.get("event")) for p in batch.payloads}))
        if state == "delivered":
            result.delivered += 1
            logger.info(
                "delivered %s via %s (%d alert(s), delivery %s, attempt %d)",
                events,
                batch.channel,
                len(batch.delivery_ids),
                batch.delivery_uuid,
                attempts,
            )
        elif state == "pending":
            result.retrying += 1
            logger.warning(
                "delivery via %s failed (attempt %d), retry at %s: %s",
                batch.channel,
                attempts,
                retry_at,
                error,
            )
        else:
            result.failed += 1
            logger.error(
                "delivery_failed via %s after %d attempt(s): %s", batch.channel, attempts, error
            )
        for callback in self.on_delivered:
            callback(batch, state, error)

    async def drain(self, max_passes: int = 10) -> DispatchResult:
        """Passes until nothing is due (used at shutdown and by ``check``)."""
        total = DispatchResult()
        for _ in range(max_passes):
            r = await self.step()
            total.delivered += r.delivered
            total.retrying += r.retrying
            total.failed += r.failed
            total.skipped += r.skipped
            if r.handled == 0:
                break
        return total
