"""``absence-monitor run``: the daemon that runs for months unattended.

Lifecycle: take the single-daemon lock, migrate the database, build the jobs from the config
(APScheduler 3, in-memory job store, nothing pickled), run until SIGTERM or SIGINT, then take
no new checks, give in-flight rounds ``SHUTDOWN_GRACE`` seconds to finish (an abandoned round
writes nothing: its transaction never starts), flush the dispatcher, and exit 0.

Jobs (thin wrappers around step functions):

- one round per enabled source every ``every`` (first run from the database, see
  ``scheduler.first_run``), checks spread over a slice of the interval;
- early re-checks asked for by the detector, with the source's controls, every minute;
- the dispatcher every ``alerts.dispatch_every``; a heartbeat row every ``HEARTBEAT``;
- retention (``db prune``) once a day.

Rounds of one source never overlap (a lock per source), so the detector sees each series'
checks in time order. SIGHUP is not a reload: restart the service to apply a new config.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
import socket
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_JOB_SUBMITTED, JobSubmissionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import select

from monitor.app import App, build
from monitor.config import Config
from monitor.core.metrics import Metrics
from monitor.daemon.lock import DaemonLock
from monitor.daemon.schedule import due_rechecks, first_run, last_rounds, start_offsets
from monitor.rounds.commit import CheckRow
from monitor.rounds.runner import Rounds
from monitor.store import outbox
from monitor.store.catalog import SeriesRef
from monitor.store.models import Heartbeat

logger = logging.getLogger(__name__)
HEARTBEAT = timedelta(seconds=15)
SHUTDOWN_GRACE = float(os.environ.get("ABSENCE_MONITOR_SHUTDOWN_GRACE", "20"))
RECHECK_EVERY = timedelta(seconds=60)
PRUNE_DELAY = timedelta(minutes=10)  # not in the first minutes after a (re)start


class Daemon:
    """The running daemon; ``run()`` returns the process exit code."""

    def __init__(self, app: App, *, rng: random.Random | None = None) -> None:
        self.app = app
        self.rng = rng or random.Random()
        self.stopping = asyncio.Event()
        self.tasks: set[asyncio.Task[Any]] = set()
        self.source_locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.instance = outbox.instance_id()
        self.metrics = app.metrics or Metrics()
        app.metrics = self.metrics
        self.rounds: Rounds | None = None
        self.refs: list[SeriesRef] = []

    async def run(self) -> int:
        lock = DaemonLock(self.app.engine)
        lock.acquire()
        try:
            await asyncio.to_thread(self.app.migrate)
            self.refs = await asyncio.to_thread(self.app.series)
            async with self.app.fetcher() as fetcher:
                self.rounds = self.app.rounds(fetcher)
                await self._serve()
        finally:
            lock.release()
        return 0

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)
        with contextlib.suppress(ValueError, AttributeError):
            loop.add_signal_handler(signal.SIGHUP, self._on_hup)
        server = self._start_http()
        scheduler = AsyncIOScheduler(timezone=UTC)
        scheduler.add_listener(self._on_submitted, EVENT_JOB_SUBMITTED)
        self._add_jobs(scheduler)
        await self._beat()
        scheduler.start()
        logger.info(
            "daemon started: %d series on %d sources",
            len(self.refs),
            len(self.app.config.enabled_sources()),
        )
        await self.stopping.wait()
        logger.info(
            "shutting down: no new checks; waiting up to %.0fs for %d round(s)",
            SHUTDOWN_GRACE,
            len(self.tasks),
        )
        scheduler.shutdown(wait=False)
        if self.tasks:
            _, pending = await asyncio.wait(self.tasks, timeout=SHUTDOWN_GRACE)
            for task in pending:
                task.cancel()
            if pending:
                logger.warning(
                    "abandoned %d unfinished round(s); nothing of them was written", len(pending)
                )
                await asyncio.gather(*pending, return_exceptions=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.app.dispatcher.drain(), timeout=SHUTDOWN_GRACE)
        await self._beat(stopped=True)
        if server is not None:
            server.stop()
        logger.info("stopped")

    def _on_signal(self, sig: int) -> None:
        logger.info("received %s", signal.Signals(sig).name)
        self.stopping.set()

    def _on_hup(self) -> None:
        logger.warning("SIGHUP: the config is read at start; restart the service to apply it")

    def _add_jobs(self, scheduler: AsyncIOScheduler) -> None:
        now = self.app.clock()
        with self.app.sessions() as session:
            last = last_rounds(session)
        for name, opts in self.app.config.enabled_sources().items():
            start = first_run(last.get(name), opts.every, now, self.rng)
            scheduler.add_job(
                self._spawn,
                IntervalTrigger(
                    seconds=opts.every.total_seconds(),
                    start_date=start,
                    jitter=min(60, int(opts.every.total_seconds() / 20)),
                ),
                args=[self.round_step, name],
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
                start.isoformat(timespec="seconds"),
            )
        common: dict[str, Any] = {"max_instances": 1, "coalesce": True, "misfire_grace_time": 30}
        scheduler.add_job(
            self._spawn,
            IntervalTrigger(seconds=RECHECK_EVERY.total_seconds()),
            args=[self.recheck_step],
            id="rechecks",
            **common,
        )
        scheduler.add_job(
            self._spawn,
            IntervalTrigger(seconds=self.app.config.alerts.dispatch_every.total_seconds()),
            args=[self.dispatch_step],
            id="dispatch",
            **common,
        )
        scheduler.add_job(
            self._beat, IntervalTrigger(seconds=HEARTBEAT.total_seconds()), id="heartbeat", **common
        )

    async def _spawn(self, step: Any, *args: Any) -> None:
        """Run a step as a tracked task, so shutdown can wait for it or abandon it."""
        if self.stopping.is_set():
            return
        task = asyncio.create_task(step(*args))
        self.tasks.add(task)
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            pass
        except Exception:
            logger.exception("job failed; it runs again at its next time")
        finally:
            self.tasks.discard(task)

    def _on_submitted(self, event: JobSubmissionEvent) -> None:
        now = datetime.now(UTC)
        for scheduled in event.scheduled_run_times:
            lag = max(0.0, (now - scheduled).total_seconds())
            self.metrics.lag.observe(lag)
            if event.job_id.startswith("round:"):
                logger.info("%s started %.3fs after its scheduled time", event.job_id, lag)

    # -- steps (each reports whether it did work) ---------------------------------------
    async def round_step(
        self,
        source: str,
        refs: list[SeriesRef] | None = None,
        kind: str = "scheduled",
        *,
        spread: bool = True,
    ) -> list[CheckRow]:
        """One round of ``source`` (all its series, or ``refs``); returns its rows.

        ``spread`` starts a scheduled round's checks over a slice of the interval; a replay
        on a compressed clock (the demo) turns it off.
        """
        assert self.rounds is not None
        refs = refs if refs is not None else [r for r in self.refs if r.source == source]
        if not refs:
            return []
        every = self.app.config.sources[source].every
        offsets = (
            start_offsets(len(refs), every, self.rng) if kind == "scheduled" and spread else None
        )
        async with self.source_locks[source]:
            return await self.rounds.run_round(source, refs, kind=kind, offsets=offsets)

    async def recheck_step(self) -> dict[str, list[CheckRow]]:
        """Early re-checks the detector asked for, each with its source's controls;
        returns the rows of each source re-checked."""
        with self.app.sessions() as session:
            due = due_rechecks(session, self.app.clock())
        if not due:
            return {}
        by_source: dict[str, list[SeriesRef]] = defaultdict(list)
        for ref in self.refs:
            if ref.series_id in due or ref.role == "control":
                by_source[ref.source].append(ref)
        wanted = sorted({r.source for r in self.refs if r.series_id in due})
        done = await asyncio.gather(
            *(self.round_step(s, by_source[s], kind="recheck") for s in wanted)
        )
        return dict(zip(wanted, done, strict=True))

    async def prune_step(self) -> bool:
        """Apply ``evidence.raw_retention`` (raw responses; counts are kept forever)."""
        pruned = await asyncio.to_thread(self.app.prune)
        logger.info("retention: %s", pruned)
        return pruned.removed > 0

    async def dispatch_step(self) -> bool:
        result = await self.app.dispatcher.step()
        return result.handled > 0

    async def _beat(self, stopped: bool = False) -> None:
        now = self.app.clock()
        self.metrics.heartbeat.set(now.timestamp())

        def write() -> None:
            with self.app.sessions() as session, session.begin():
                row = session.scalar(select(Heartbeat).where(Heartbeat.instance == self.instance))
                if row is None:
                    row = Heartbeat(
                        instance=self.instance,
                        pid=os.getpid(),
                        host=socket.gethostname(),
                        started_at=now,
                        beat_at=now,
                    )
                    session.add(row)
                row.beat_at = now
                row.info = {"stopped": stopped, "rounds_in_flight": len(self.tasks)}
                depth, oldest = outbox.outbox_depth(session)
            self.metrics.outbox_depth.set(depth)
            self.metrics.outbox_age.set((now - oldest).total_seconds() if oldest else 0)

        await asyncio.to_thread(write)

    def _start_http(self) -> Any:
        server_cfg = self.app.config.server
        if not server_cfg.enabled:
            return None
        from monitor.daemon.server import StatusServer

        server = StatusServer(
            self.app, self.metrics, server_cfg.host, server_cfg.port, token=server_cfg.token
        )
        server.start()
        logger.info("status endpoint on http://%s:%d/", server_cfg.host, server.port)
        return server


def run_daemon(config: Config, *, database_url: str, config_path: str) -> int:
    """Build the app and run the daemon until it is told to stop."""
    if logging.getLogger().level > logging.INFO:
        logging.getLogger().setLevel(logging.INFO)  # a daemon logs one line per check
    app = build(config, database_url=database_url)
    try:
        return asyncio.run(Daemon(app).run())
    finally:
        app.engine.dispose()
