"""The dispatcher: sends what the outbox holds, once, and records every attempt.

``Dispatcher.step()`` is one pass: claim due messages, send each through its channel, record
the attempt, schedule a retry on the ``RetryPolicy``'s schedule (by default 5 s, 1 min, 5 min,
30 min, 2 h, 5 h, 12 h, 12 h, each ±20%: 31.6 hours, at least 25.3) for transient failures,
and give up after the last one (state ``failed``, visible in ``alerts list``, ``/healthz``
and ``/metrics``). It reports how many messages it handled, so the daemon's job and the tests
can tell whether it did work. Channels own no retry logic; they raise ``ChannelError``
(STYLE.md, 10), whose ``permanent`` means the receiver refused the message itself.

Deliveries on a channel that is not configured (renamed or removed) are not touched: they
stay ``pending``, a warning names the channel once per dispatcher (the daemon builds a new one
on reload), and they go out if the channel comes back.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from monitor.alerts.payload import Message, upgrade
from monitor.channels.base import Channel
from monitor.config import DEFAULT_RETRY_SCHEDULE
from monitor.core.backoff import Jitter, backoff_delay
from monitor.core.clock import Clock
from monitor.core.errors import ChannelError
from monitor.core.masking import mask
from monitor.store import outbox
from monitor.store.outbox_admin import waiting_for_channel

logger = logging.getLogger(__name__)


# Deliveries spread ±20% around the nominal delay: alerts that failed together (a receiver
# down) do not all retry in the same second, and a user reading "retry at" is not misled.
DELIVERY_JITTER: Jitter = (0.8, 1.2)


class RetryPolicy:
    """When to try a failed delivery again: the wait before retry *n* is ``schedule[n-1]``,
    jittered ±20%; after ``len(schedule) + 1`` attempts it is given up (``failed``).

    ``RetryPolicy()`` is the documented default (``DEFAULT_RETRY_SCHEDULE``, 31.6 hours);
    ``RetryPolicy(max_attempts=, base=, cap=)`` is the older doubling form (waits of
    ``base * 2**(n-1)`` capped at ``cap``, the one backoff formula of ``core.backoff``).
    """

    def __init__(
        self,
        schedule: Sequence[timedelta] | None = None,
        *,
        max_attempts: int | None = None,
        base: timedelta | None = None,
        cap: timedelta | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if schedule is None and (max_attempts, base, cap) != (None, None, None):
            b = (base or timedelta(seconds=30)).total_seconds()
            c = (cap or timedelta(hours=1)).total_seconds()
            schedule = [
                timedelta(seconds=backoff_delay(n, base=b, cap=c))
                for n in range(1, max_attempts or 12)
            ]
        self.schedule = tuple(DEFAULT_RETRY_SCHEDULE if schedule is None else schedule)
        self.rng = rng or random.Random()

    @property
    def max_attempts(self) -> int:
        return len(self.schedule) + 1

    def next_attempt(self, attempts_done: int, now: datetime) -> datetime | None:
        """When to try again after ``attempts_done`` attempts, or None to give up."""
        if attempts_done >= self.max_attempts:
            return None
        nominal = self.schedule[attempts_done - 1].total_seconds()
        return now + timedelta(seconds=nominal * self.rng.uniform(*DELIVERY_JITTER))


@dataclass
class DispatchResult:
    """What one pass did, per outcome."""

    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    skipped: int = 0  # claimed by another dispatcher first
    waiting: int = 0  # pending on a channel that is not configured

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
        may_send: Callable[[], bool] | None = None,
        sole: bool = False,
    ) -> None:
        self.sessions = sessions
        # Asked after a claim, before the send (a cluster node: whether it still leads).
        self.may_send = may_send
        # The only sender (a cluster's leader): a message another process claimed is a
        # deposed leader's, taken over at once, not after the claim's lease; a send of it
        # still in flight is the one duplicate, under the same delivery id.
        self.sole = sole
        self.channels = dict(channels)
        self.clock = clock
        self.policy = policy or RetryPolicy()
        self.owner = owner or outbox.instance_id()
        self._limit = asyncio.Semaphore(max(1, concurrency))
        self.on_delivered: list[Any] = []  # callbacks(batch, state, error) for logs/metrics
        self._warned: set[str] = set()  # channels whose waiting deliveries were logged

    async def step(self) -> DispatchResult:
        """One pass over the due messages."""
        result = DispatchResult()
        now = self.clock()

        def due() -> tuple[list[outbox.Batch], dict[str, int]]:
            with self.sessions() as session:
                dead = outbox.other_process if self.sole else outbox.pid_is_dead
                batches = outbox.due_batches(session, now, channels=self.channels, dead=dead)
                return batches, waiting_for_channel(session, self.channels)

        # Every database call of the dispatcher runs in a thread: the event loop keeps the
        # checks' clocks honest while a round holds the write lock.
        batches, waiting = await asyncio.to_thread(due)
        result.waiting = sum(waiting.values())
        for channel in sorted(set(waiting) - self._warned):
            self._warned.add(channel)
            logger.warning(
                "%d delivery(ies) wait for channel %s, which is not in the config (renamed or "
                "removed): they stay pending and go out if it comes back",
                waiting[channel],
                channel,
            )
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
        if self.may_send is not None and not self.may_send():
            # Claimed, then paused or deposed: the claim runs out and the leader sends.
            logger.warning("delivery %s not sent: this node no longer leads", batch.delivery_uuid)
            result.skipped += 1
            return
        error: str | None = None
        permanent = False
        channel = self.channels[batch.channel]  # due_batches gives configured channels only
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
            total.waiting = r.waiting
            if r.handled == 0:
                break
        return total
