"""The daemon's APScheduler jobs: thin wrappers around its step functions, rebuilt from the
config at every start (in-memory job store, nothing pickled).

- one round per enabled source every ``every``; the first run follows from the last round in
  the database (``schedule.first_run``), so a restart neither re-checks everything at once
  nor skips a period;
- early re-checks asked for by the detector, with the source's controls, every minute;
- the dispatcher every ``alerts.dispatch_every``; a heartbeat row every ``HEARTBEAT``;
- retention (``evidence.raw_retention``; an alert's evidence is exempt) every
  ``evidence.prune_every`` (a day), first ``PRUNE_DELAY`` after the start (or one period,
  if that is shorter);
- with ``evidence.archive.wayback`` enabled, the Save Page Now queue every ``poll_every``;
- with ``evidence.timestamp_url``, an RFC 3161 time-stamp of the snapshot log's head every
  ``evidence.timestamp_every`` (a day), first ``PRUNE_DELAY`` after the start.

Every trigger starts from the injected clock's ``now`` (APScheduler would read the wall clock
for a trigger without a start). Every job has ``max_instances=1`` and ``coalesce``: a late job
runs once, not once per missed time. Scheduler lag (how late a job started) goes to the
metrics.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from apscheduler.events import EVENT_JOB_SUBMITTED, JobSubmissionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor.config import Config
from monitor.core.clock import Clock, iso_utc
from monitor.core.metrics import Metrics
from monitor.daemon.schedule import first_run
from monitor.store.db import storage_refusal, unreachable

logger = logging.getLogger(__name__)
HEARTBEAT = timedelta(seconds=15)
RECHECK_EVERY = timedelta(seconds=60)
PRUNE_DELAY = timedelta(minutes=10)  # not in the first minutes after a (re)start


class Steps(Protocol):
    """What the jobs call: the daemon's step functions and the tracked-task runner."""

    rng: random.Random
    metrics: Metrics

    async def spawn(self, step: Callable[..., Awaitable[Any]], *args: Any) -> None: ...
    async def round_step(self, source: str) -> Any: ...
    async def recheck_step(self) -> Any: ...
    async def dispatch_step(self) -> bool: ...
    async def prune_step(self) -> bool: ...
    async def archive_step(self) -> bool: ...
    async def timestamp_step(self) -> bool: ...
    async def beat(self, stopped: bool = False) -> None: ...


def schedule_jobs(
    scheduler: AsyncIOScheduler,
    daemon: Steps,
    config: Config,
    clock: Clock,
    last: Mapping[str, datetime],
) -> None:
    """Add every job of ``daemon`` to ``scheduler``; ``last`` is each source's last round."""
    now = clock()
    for name, opts in config.enabled_sources().items():
        start = first_run(last.get(name), opts.every, now, daemon.rng)
        scheduler.add_job(
            daemon.spawn,
            IntervalTrigger(
                seconds=opts.every.total_seconds(),
                start_date=start,
                jitter=min(60, int(opts.every.total_seconds() / 20)),
            ),
            args=[daemon.round_step, name],
            id=f"round:{name}",
            name=f"round {name}",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=int(opts.every.total_seconds() / 2) or 1,
        )
        logger.info(
            "source %s: every %s, next round at %s",
            name,
            opts.every,
            iso_utc(start),
        )
    common: dict[str, Any] = {"max_instances": 1, "coalesce": True, "misfire_grace_time": 30}
    scheduler.add_job(
        daemon.spawn,
        IntervalTrigger(seconds=RECHECK_EVERY.total_seconds(), start_date=now),
        args=[daemon.recheck_step],
        id="rechecks",
        **common,
    )
    scheduler.add_job(
        daemon.spawn,
        IntervalTrigger(seconds=config.alerts.dispatch_every.total_seconds(), start_date=now),
        args=[daemon.dispatch_step],
        id="dispatch",
        **common,
    )

    def unhurried(step: Callable[[], Awaitable[bool]], every: timedelta, job_id: str) -> None:
        """A daily kind of job: not in the first minutes after a (re)start."""
        scheduler.add_job(
            daemon.spawn,
            IntervalTrigger(
                seconds=every.total_seconds(), start_date=now + min(PRUNE_DELAY, every)
            ),
            args=[step],
            id=job_id,
            **common,
        )

    unhurried(daemon.prune_step, config.evidence.prune_every, "retention")
    wayback = config.evidence.archive.wayback
    if wayback.enabled:
        scheduler.add_job(
            daemon.spawn,
            IntervalTrigger(seconds=wayback.poll_every.total_seconds(), start_date=now),
            args=[daemon.archive_step],
            id="archive",
            **common,
        )
    if config.evidence.timestamp_url:
        unhurried(daemon.timestamp_step, config.evidence.timestamp_every, "timestamp")
    scheduler.add_job(
        daemon.beat,
        IntervalTrigger(seconds=HEARTBEAT.total_seconds(), start_date=now),
        id="heartbeat",
        **common,
    )

    def on_submitted(event: JobSubmissionEvent) -> None:
        at = clock()
        for scheduled in event.scheduled_run_times:
            lag = max(0.0, (at - scheduled).total_seconds())
            daemon.metrics.lag.observe(lag)
            if event.job_id.startswith("round:"):
                logger.info("%s started %.3fs after its scheduled time", event.job_id, lag)

    scheduler.add_listener(on_submitted, EVENT_JOB_SUBMITTED)


class FailureLog:
    """How a failed job is logged: one line when the storage refused its write (a full
    disk: nothing of it was written) or the database could not be reached, the traceback
    of a bug otherwise; either way it runs again.

    While the database is down every job fails at each of its runs (some every second):
    a job's "unreachable" line is written once, then at most once per ``repeat_every``
    with the count of the failures it stood for."""

    def __init__(
        self, *, repeat_every: float = 60.0, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.repeat_every, self.monotonic = repeat_every, monotonic
        self._last: dict[str, float] = {}  # job -> when its last "unreachable" line went out
        self._quiet: dict[str, int] = {}  # job -> failures not logged since

    def failed(self, what: str, exc: Exception) -> None:
        refusal = storage_refusal(exc)
        if refusal is not None:
            logger.error(
                "job %s: %s; nothing of it was written, it runs again at its next time",
                what,
                refusal,
            )
            return
        down = unreachable(exc)
        if down is None:
            logger.error("job %s failed; it runs again at its next time", what, exc_info=exc)
            return
        now, last = self.monotonic(), self._last.get(what)
        if last is not None and now - last < self.repeat_every:
            self._quiet[what] = self._quiet.get(what, 0) + 1
            return
        self._last[what] = now
        quiet = self._quiet.pop(what, 0)
        since = f" ({quiet} more failure(s) like it since the last line)" if quiet else ""
        logger.error("job %s: %s; it runs again at its next time%s", what, down, since)


_FAILURES = FailureLog()


def job_failed(what: str, exc: Exception) -> None:
    """Log a failed job (``FailureLog``: one line, not a traceback, for a known cause)."""
    _FAILURES.failed(what, exc)
