"""``absence-monitor run``: the daemon that runs for months unattended.

Lifecycle: take the single-daemon lock, migrate the database, build the jobs from the config
(APScheduler 3, in-memory job store, nothing pickled), run until SIGTERM or SIGINT, then take
no new checks, give in-flight rounds ``SHUTDOWN_GRACE`` seconds to finish (an abandoned round
writes nothing: its transaction never starts), flush the dispatcher, and exit 0.

Jobs are thin wrappers around the step functions here (``round_step``, ``recheck_step``,
``dispatch_step``, ``prune_step``, ``beat``); ``monitor.daemon.jobs`` schedules them. Tests
and the demo call the steps directly. Rounds of one source never overlap (a lock per
source), so the detector sees each series' checks in time order. In cluster mode the
daemon is a ``daemon.cluster.ClusterNode``: these steps and lifecycle, its own jobs.

SIGHUP reloads: the config file is read and validated again; a valid one takes effect at
the next round (sources, people, channels, thresholds: the app is rebuilt over the same
database, fetcher and metrics, the watch list synced, the jobs rescheduled), while rounds in
flight finish under the old one. State and pending deliveries live in the database, so
nothing is lost. An invalid config is logged as its one-line error and the old one keeps
running. The database URL and the status server need a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from monitor.app import App, build
from monitor.config import Config, load_config
from monitor.core.errors import MonitorError
from monitor.core.metrics import Metrics
from monitor.daemon.jobs import job_failed, schedule_jobs
from monitor.daemon.lock import DaemonLock
from monitor.daemon.schedule import start_offsets
from monitor.fetch.client import Fetcher
from monitor.rounds.commit import CheckRow
from monitor.rounds.runner import Rounds
from monitor.store import outbox
from monitor.store.catalog import SeriesRef
from monitor.store.cluster import StaleEpoch
from monitor.store.heartbeat import record_heartbeat
from monitor.store.outbox_admin import Backlog, backlog
from monitor.store.rounds import due_rechecks, last_rounds

logger = logging.getLogger(__name__)
SHUTDOWN_GRACE = float(os.environ.get("ABSENCE_MONITOR_SHUTDOWN_GRACE", "20"))


class Daemon:
    """The running daemon; ``run()`` returns the process exit code."""

    def __init__(
        self, app: App, *, rng: random.Random | None = None, config_path: str | None = None
    ) -> None:
        self.app = app
        self.config_path = config_path
        self.scheduler: AsyncIOScheduler | None = None
        self.server: Any = None
        self.fetcher: Fetcher | None = None
        self.rng = rng or random.Random()
        self.stopping = asyncio.Event()
        self.tasks: set[asyncio.Task[Any]] = set()
        self.source_locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.instance = outbox.instance_id()
        self.metrics = app.metrics or Metrics()
        app.metrics = self.metrics
        self.rounds: Rounds | None = None
        self.refs: list[SeriesRef] = []
        self.archiver = app.archiver()
        self.stamper = app.stamper()

    async def run(self) -> int:
        lock = DaemonLock(self.app.engine)
        lock.acquire()
        try:
            await asyncio.to_thread(self.app.migrate, apart=True)
            self.refs = await asyncio.to_thread(self.app.series)
            async with self.app.fetcher() as fetcher:
                self.fetcher = fetcher
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
        server = self.server = self._start_http()
        scheduler = self.scheduler = AsyncIOScheduler(timezone=UTC)
        await self.schedule(scheduler)
        await self.beat()
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
        with contextlib.suppress(TimeoutError, StaleEpoch):  # StaleEpoch: a node not leading
            await asyncio.wait_for(self.app.dispatcher.drain(), timeout=SHUTDOWN_GRACE)
        await self.beat(stopped=True)
        if self.archiver is not None:
            await self.archiver.aclose()
        if server is not None:
            server.stop()
        logger.info("stopped")

    async def schedule(self, scheduler: AsyncIOScheduler) -> None:
        """Add the jobs (a cluster node adds its own: ``daemon.cluster``)."""
        last = await asyncio.to_thread(self._last_rounds)
        schedule_jobs(scheduler, self, self.app.config, self.app.clock, last)

    def _last_rounds(self) -> dict[str, datetime]:
        with self.app.sessions() as session:
            return last_rounds(session)

    def _on_signal(self, sig: int) -> None:
        logger.info("received %s", signal.Signals(sig).name)
        self.stopping.set()

    def _on_hup(self) -> None:
        logger.info("received SIGHUP: reloading %s", self.config_path)
        task = asyncio.create_task(self.reload())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def reload(self) -> bool:
        """Read the config again and apply it (see the module docstring); whether it did."""
        if self.config_path is None or self.fetcher is None or self.scheduler is None:
            logger.warning("reload: no config file to read; restart to apply a new config")
            return False
        try:
            config = await asyncio.to_thread(load_config, self.config_path)
            app = self.app.reloaded(config)
            refs = await asyncio.to_thread(app.series)
        except MonitorError as exc:
            logger.error("reload refused, the running config stays: %s", exc)
            return False
        if config.database.url != self.app.config.database.url:
            logger.warning("reload: database.url changed; it takes effect at the next restart")
        self.app, self.refs, self.rounds = app, refs, app.rounds(self.fetcher)
        self.stamper = app.stamper()
        old_archiver, self.archiver = self.archiver, app.archiver()
        if old_archiver is not None:
            await old_archiver.aclose()
        if self.server is not None:
            self.server.app = app
        self.scheduler.remove_all_jobs()
        await self.schedule(self.scheduler)
        logger.info(
            "config reloaded: %d series on %d sources, channels %s",
            len(refs),
            len(config.enabled_sources()),
            ", ".join(app.channels) or "none",
        )
        return True

    async def spawn(self, step: Any, *args: Any) -> None:
        """Run a step as a tracked task, so shutdown can wait for it or abandon it."""
        if self.stopping.is_set():
            return
        task = asyncio.create_task(step(*args))
        self.tasks.add(task)
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            pass
        except Exception as exc:
            job_failed(" ".join([step.__name__.removesuffix("_step"), *map(str, args)]), exc)
        finally:
            self.tasks.discard(task)

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
        now = self.app.clock()

        def due_now() -> set[int]:
            with self.app.sessions() as session:
                return set(due_rechecks(session, now))

        due = await asyncio.to_thread(due_now)
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

    async def archive_step(self) -> bool:
        """Save Page Now: queue what is new, poll jobs, submit within the budget."""
        counts = await self.archiver.step() if self.archiver is not None else None
        return bool(counts and (counts.submitted or counts.archived))

    async def timestamp_step(self) -> bool:
        """Send the snapshot log's head to the time-stamping authority (if it grew)."""
        return await self.stamper.step() if self.stamper is not None else False

    async def dispatch_step(self) -> bool:
        """Deliver what is due in the outbox."""
        result = await self.app.dispatcher.step()
        return result.handled > 0

    async def beat(self, stopped: bool = False) -> None:
        """Write this process's heartbeat row and refresh the outbox gauges."""
        now = self.app.clock()
        self.metrics.heartbeat.set(now.timestamp())
        info = {"stopped": stopped, "rounds_in_flight": len(self.tasks)}

        def write() -> Backlog:
            with self.app.sessions() as session, session.begin():
                record_heartbeat(session, self.instance, now, info)
                return backlog(session, now)

        try:
            facts = await asyncio.to_thread(write)
        except Exception as exc:
            job_failed("heartbeat", exc)
            return
        self.metrics.observe_outbox(facts, now)

    def _start_http(self) -> Any:
        server_cfg = self.app.config.server
        if not server_cfg.enabled:
            return None
        from monitor.daemon.server import StatusServer

        token = server_cfg.token.get_secret_value() if server_cfg.token else None
        server = StatusServer(self.app, self.metrics, server_cfg.host, server_cfg.port, token=token)
        server.start()
        logger.info("status endpoint on http://%s:%d/", server_cfg.host, server.port)
        return server


def run_daemon(
    config: Config, *, database_url: str, config_path: str, node: type[Daemon] = Daemon
) -> int:
    """Build the app and run the daemon (or a cluster's ``node``) until told to stop."""
    if logging.getLogger().level > logging.INFO:
        logging.getLogger().setLevel(logging.INFO)  # a daemon logs one line per check
    app = build(config, database_url=database_url)
    try:
        return asyncio.run(node(app, config_path=config_path).run())
    finally:
        app.engine.dispose()
