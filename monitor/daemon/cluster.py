"""A cluster node: the daemon of ``absence-monitor run`` with ``cluster.enabled``.

Every node runs the same daemon against one PostgreSQL database. Instead of the
single-daemon lock a node registers under its name (``store.cluster.register``: refused
while a live node holds it) and beats every ``HEARTBEAT`` with its role and spool depth.

Its jobs (APScheduler, local to the node, as ever):
- per source, a tick at the start of each round (``every``, aligned so every node of a
  vantage ticks in the same slot): ``NodeRounds.tick`` claims, checks and stages the
  node's share of the round (or spools it while the database is unreachable);
- ``SWEEP`` often: claims left by a node that died, once their lease ran out;
- early re-checks the detector asked for (claims of kind ``recheck``), every minute;
- the spool forwarded to PostgreSQL every ``FORWARD``;
- while the node leads (``daemon.leader``: an advisory lock, a fencing epoch): closing the
  rounds whose checks are in (``rounds.close.Closer``), alert delivery, retention, the
  archive and the time-stamps. A node that stops leading stops these at once; a write of
  a node whose epoch is stale is refused by the fence.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor import __version__
from monitor.app import App
from monitor.core.errors import MonitorError
from monitor.daemon.jobs import HEARTBEAT, job_failed, schedule_jobs
from monitor.daemon.leader import LeaderElection
from monitor.daemon.service import Daemon
from monitor.rounds.close import Closer
from monitor.rounds.cluster import NodeRounds
from monitor.rounds.commit import CheckRow
from monitor.store import advisory
from monitor.store import cluster as nodes
from monitor.store.catalog import SeriesRef
from monitor.store.cluster import NodeIdentity, StaleEpoch
from monitor.store.rounds import due_rechecks
from monitor.store.spool import Spool

logger = logging.getLogger(__name__)
SWEEP = timedelta(seconds=5)
FORWARD = timedelta(seconds=5)
CLOSE = timedelta(seconds=1)
SETUP_KEY = 0x1A5E7E  # nodes migrate and sync one at a time (lock, leader: 7C, 7D)
SETUP_WAIT = 300.0


class ClusterNode(Daemon):
    """The daemon as one node of a cluster (see the module docstring)."""

    def __init__(self, app: App, *, config_path: str) -> None:
        cluster = app.config.cluster
        self.election = LeaderElection(
            app.engine.url.render_as_string(hide_password=False),
            cluster.node,
            cluster.leader_lease,
        )
        # The leader's work (delivery, retention, archive, time-stamps) is fenced: every
        # transaction of it opens with the fence under the epoch this node leads under.
        super().__init__(app.led_by(lambda: self.election.epoch), config_path=config_path)
        self.name = cluster.node
        self.spool = Spool(cluster.spool_path(config_path))
        self.node_rounds: NodeRounds | None = None
        self.closer: Closer | None = None

    async def run(self) -> int:
        self.refs = await asyncio.to_thread(self._prepare)
        await asyncio.to_thread(self._register)
        try:
            async with self.app.fetcher() as fetcher:
                self.fetcher = fetcher
                self._build(fetcher)
                try:  # the election's connection is closed whatever ends the node
                    await self.elect()
                    await self._serve()
                finally:
                    await asyncio.to_thread(self.election.close)
        finally:
            self.spool.close()
        return 0

    def _build(self, fetcher: Any) -> None:
        cluster = self.app.config.cluster
        self.rounds = self.app.rounds(fetcher)
        self.node_rounds = NodeRounds(
            self.rounds,
            self.app.sessions,
            self.spool,
            node=self.name,
            lease=cluster.claim_lease,
            batch=cluster.batch,
        )
        self.closer = Closer(
            self.rounds.commit,
            self.app.sessions,
            self.app.config,
            self.app.clock,
            lease=cluster.claim_lease,
        )

    def _start_http(self) -> Any:
        server = super()._start_http()
        if server is not None:
            server.spool_depth = self.spool.depth  # /healthz shows the node's spool
        return server

    def _prepare(self) -> list[SeriesRef]:
        """Migrate the database and sync this vantage's watch list, one node at a time:
        nodes started together would otherwise create the same tables and rows at once."""
        url = self.app.engine.url.render_as_string(hide_password=False)
        conn = advisory.dedicated_connection(url, f"absence-monitor setup {self.name}")
        try:
            waited = 0.0
            while not advisory.try_lock(conn, SETUP_KEY):
                if waited > SETUP_WAIT:
                    raise MonitorError(
                        f"another node has been migrating the database for {SETUP_WAIT:.0f}s; "
                        "not starting"
                    )
                time.sleep(0.2)
                waited += 0.2
            self.app.migrate()
            return self.app.series()
        finally:
            conn.invalidate()  # the lock goes with the session
            conn.close()

    def _register(self) -> None:
        me = NodeIdentity(
            self.name, self.app.config.vantage, __version__, socket.gethostname(), os.getpid()
        )
        with self.app.sessions() as session, session.begin():
            nodes.register(session, me, self.app.clock(), 3 * HEARTBEAT)
        logger.info("node %s registered at vantage %s", self.name, self.app.config.vantage)

    async def reload(self) -> bool:
        done = await super().reload()
        if done and self.fetcher is not None:
            self._build(self.fetcher)
        return done

    async def schedule(self, scheduler: AsyncIOScheduler) -> None:
        """The daemon's jobs, with each source's ticks on its round's boundaries, and the
        node's own (see the module docstring)."""
        config, now = self.app.config, self.app.clock()
        # ``first_run`` starts a source one period after its "last" round: the boundary.
        last = {name: _boundary(now, o.every) - o.every for name, o in config.sources.items()}
        schedule_jobs(scheduler, self, config, self.app.clock, last)
        common: dict[str, Any] = {"max_instances": 1, "coalesce": True, "misfire_grace_time": 30}
        sweep = max(timedelta(seconds=1), min(SWEEP, config.cluster.claim_lease / 4))
        scheduler.add_job(
            self.elect,
            IntervalTrigger(seconds=self.election.renew_every.total_seconds(), start_date=now),
            id="election",
            **common,
        )
        for step, every, job_id in (
            (self.sweep_step, sweep, "sweep"),
            (self.forward_step, FORWARD, "forward"),
            (self.close_step, CLOSE, "close"),
        ):
            scheduler.add_job(
                self.spawn,
                IntervalTrigger(seconds=every.total_seconds(), start_date=now),
                args=[step],
                id=job_id,
                **common,
            )

    # -- the node's steps ---------------------------------------------------------------
    async def elect(self) -> bool:
        """Campaign for the leader's role, or renew it; whether this node leads."""
        return await asyncio.to_thread(self.election.step)

    def mine(self, source: str) -> list[SeriesRef]:
        return [r for r in self.refs if r.source == source]

    async def round_step(
        self,
        source: str,
        refs: list[SeriesRef] | None = None,
        kind: str = "scheduled",
        *,
        spread: bool = True,
    ) -> list[CheckRow]:
        """The node's part of the round of ``source`` now starting (rows: none, the
        leader stores them)."""
        assert self.node_rounds is not None
        every = self.app.config.sources[source].every
        # The tick fires at the boundary plus jitter and lag: the nearest boundary's slot.
        slot = round(self.app.clock().timestamp() / every.total_seconds())
        async with self.source_locks[source]:
            await self.node_rounds.tick(source, refs or self.mine(source), kind, slot=slot)
        return []

    async def recheck_step(self) -> dict[str, list[CheckRow]]:
        """Early re-checks of this vantage's series, with their source's controls, as
        claims of kind ``recheck`` in the current round."""
        now = self.app.clock()

        def due_now() -> set[int]:
            with self.app.sessions() as session:
                return set(due_rechecks(session, now))

        due = await asyncio.to_thread(due_now) & {r.series_id for r in self.refs}
        by_source: dict[str, list[SeriesRef]] = defaultdict(list)
        for ref in self.refs:
            if ref.series_id in due or ref.role == "control":
                by_source[ref.source].append(ref)
        wanted = sorted({r.source for r in self.refs if r.series_id in due})
        assert self.node_rounds is not None
        for source in wanted:
            async with self.source_locks[source]:
                await self.node_rounds.tick(source, by_source[source], "recheck")
        return {s: [] for s in wanted}

    async def sweep_step(self) -> bool:
        """Claims of open rounds whose lease ran out (their node died): redone here."""
        assert self.node_rounds is not None
        made = 0
        for source in self.app.config.enabled_sources():
            async with self.source_locks[source]:
                made += await self.node_rounds.work(source, self.mine(source))
        return made > 0

    async def forward_step(self) -> bool:
        """The spool, forwarded to PostgreSQL once it answers."""
        assert self.node_rounds is not None
        return await asyncio.to_thread(self.node_rounds.forward) > 0

    # -- the leader's steps (each does nothing on a node that does not lead) -------------
    async def close_step(self) -> bool:
        """Close the rounds whose checks are in."""
        epoch = self.election.epoch
        if epoch is None or self.closer is None:
            return False
        try:
            return await asyncio.to_thread(self.closer.step, epoch) > 0
        except StaleEpoch as exc:
            # Paused past the lease and taken over meanwhile: the fence refused the write.
            logger.warning("not closing rounds: %s", exc)
            return False

    async def dispatch_step(self) -> bool:
        return await self._lead("deliver", super().dispatch_step)

    async def prune_step(self) -> bool:
        return await self._lead("prune", super().prune_step)

    async def archive_step(self) -> bool:
        return await self._lead("archive", super().archive_step)

    async def timestamp_step(self) -> bool:
        return await self._lead("time-stamp", super().timestamp_step)

    async def _lead(self, what: str, step: Callable[[], Awaitable[bool]]) -> bool:
        """Run a leader's ``step`` if this node leads; its writes are fenced (``App.led_by``),
        so a node deposed meanwhile (paused past its lease) has them refused."""
        if self.election.epoch is None:
            return False
        try:
            return await step()
        except StaleEpoch as exc:
            logger.warning("not going on to %s: %s", what, exc)
            return False

    async def beat(self, stopped: bool = False) -> None:
        """The process's heartbeat and the node's: its role and spool depth."""
        await super().beat(stopped)
        now, role = self.app.clock(), "leader" if self.election.epoch is not None else "probe"
        depth = await asyncio.to_thread(self.spool.depth)

        def write() -> bool:
            with self.app.sessions() as session, session.begin():
                return nodes.beat(
                    session, self.name, now, role=role, spool_depth=depth, stopped=stopped
                )

        try:
            if not await asyncio.to_thread(write) and not stopped:
                await asyncio.to_thread(self._register)
        except Exception as exc:
            job_failed("node heartbeat", exc)


def _boundary(now: datetime, every: timedelta) -> datetime:
    """The start of the next round of a source checked every ``every``."""
    step = every.total_seconds()
    return datetime.fromtimestamp((int(now.timestamp() // step) + 1) * step, now.tzinfo)
