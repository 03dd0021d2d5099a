"""The composition root: the one place where config, database, fetcher, sources, detector,
outbox and channels are wired together.

``build(config, ...)`` takes every outside resource as an optional argument (HTTP transport,
clock, channels), so tests, the demo and the benchmarks run the real code path against
local peers or fakes (STYLE.md, 5). Commands in ``cli.py`` call the methods here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from monitor import sources
from monitor.alerts.payload import Message
from monitor.channels import build_channels
from monitor.channels.base import Channel
from monitor.channels.dispatch import Dispatcher, RetryPolicy
from monitor.config import Config
from monitor.core.clock import Clock, utcnow
from monitor.core.errors import ChannelError
from monitor.core.metrics import Metrics
from monitor.evidence.thumbnails import thumbnail_dir
from monitor.fetch.client import Fetcher
from monitor.rounds.commit import CheckRow
from monitor.rounds.runner import Progress, Rounds
from monitor.sources.base import Source
from monitor.store import catalog, migrate, outbox
from monitor.store.catalog import SeriesRef
from monitor.store.retention import Pruned, prune
from monitor.store.db import create_db_engine, session_factory

# Given the number of checks, a context that shows their progress (the CLI's bar).
ProgressFactory = Callable[[int], AbstractContextManager[Progress]]


@dataclass
class App:
    """Everything a command needs, built once."""

    config: Config
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Clock
    sources: dict[str, Source]
    channels: dict[str, Channel]
    transport: httpx.AsyncBaseTransport | None = None
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Any] | None = None
    metrics: Metrics | None = None
    dispatcher: Dispatcher = field(init=False)

    def __post_init__(self) -> None:
        alerts = self.config.alerts
        self.dispatcher = Dispatcher(
            self.sessions,
            self.channels,
            clock=self.clock,
            policy=RetryPolicy(alerts.max_attempts, alerts.backoff, alerts.max_backoff),
        )
        self.dispatcher.on_delivered.append(self._count_delivery)

    def _count_delivery(self, batch: Any, state: str, error: str | None) -> None:
        if self.metrics is not None:
            self.metrics.alerts.labels(batch.channel, state).inc(len(batch.delivery_ids))

    # -- schema and catalog -----------------------------------------------------------
    def migrate(self) -> None:
        """Bring the schema to head (idempotent)."""
        if migrate.current_revision(self.engine) != migrate.head_revision(self.engine):
            migrate.upgrade(self.engine)

    def series(
        self, people: Sequence[str] = (), source_names: Sequence[str] = ()
    ) -> list[SeriesRef]:
        """Sync the watch list into the database and return the (filtered) series."""
        with self.sessions() as session, session.begin():
            refs = catalog.sync(session, self.config)
        if people:
            wanted = set(people)
            refs = [r for r in refs if r.person in wanted or r.role == "control"]
        if source_names:
            refs = [r for r in refs if r.source in set(source_names)]
        return refs

    @property
    def thumbnail_dir(self) -> Path | None:
        """Where kept thumbnails go (None: a server database and no configured directory)."""
        return thumbnail_dir(
            self.config.evidence.thumbnail_dir,
            self.engine.url.render_as_string(hide_password=False),
        )

    def fetcher(self) -> Fetcher:
        kwargs: dict[str, Any] = {"transport": self.transport, "monotonic": self.monotonic}
        if self.sleep is not None:
            kwargs["sleep"] = self.sleep
        return Fetcher(**kwargs)

    def rounds(self, fetcher: Fetcher) -> Rounds:
        """The round runner over ``fetcher``, with this app's resources."""
        return Rounds(
            sessions=self.sessions,
            config=self.config,
            sources=self.sources,
            fetcher=fetcher,
            channels=list(self.channels),
            clock=self.clock,
            monotonic=self.monotonic,
            sleep=self.sleep,
            metrics=self.metrics,
            thumbnail_dir=self.thumbnail_dir,
        )

    # -- commands ---------------------------------------------------------------------
    def check_now(
        self,
        *,
        people: Sequence[str] = (),
        sources: Sequence[str] = (),
        progress: ProgressFactory | None = None,
        deliver: bool = True,
    ) -> list[CheckRow]:
        """Every (filtered) series once, now: fetch, store, detect, deliver."""
        from monitor.core.errors import ConfigError

        unknown = [s for s in sources if s not in self.config.sources]
        if unknown:
            raise ConfigError(f"unknown source {unknown[0]!r}", key="--source")
        names = {p.name for p in self.config.people}
        missing = [p for p in people if p not in names]
        if missing:
            raise ConfigError(f"unknown person {missing[0]!r}", key="--person")
        self.migrate()
        refs = self.series(people, sources)
        return asyncio.run(self._check(refs, progress, deliver))

    async def _check(
        self, refs: list[SeriesRef], progress: ProgressFactory | None, deliver: bool
    ) -> list[CheckRow]:
        async with self.fetcher() as fetcher:
            if progress is None:
                rows = await self.rounds(fetcher).run_all(refs)
            else:
                with progress(len(refs)) as bar:
                    rows = await self.rounds(fetcher).run_all(refs, progress=bar)
        if deliver:
            await self.dispatcher.drain()
        return rows

    def list_alerts(self, limit: int) -> list[tuple[Any, Sequence[Any]]]:
        self.migrate()
        with self.sessions() as session:
            return outbox.alerts_with_deliveries(session, limit)

    def send_test_alert(self) -> list[tuple[str, str | None]]:
        """A ``test`` event straight through every channel; (channel, error or None)."""
        from monitor.alerts.payload import build_payload

        async def go() -> list[tuple[str, str | None]]:
            out: list[tuple[str, str | None]] = []
            now = self.clock()
            for name, channel in self.channels.items():
                payload = build_payload(
                    event="test",
                    alert_id=0,
                    checked_at=now,
                    reason="a test alert from `absence-monitor alerts test`",
                )
                message = Message(f"test-{int(now.timestamp())}-{name}", [payload], name)
                try:
                    await channel.send(message)
                    out.append((name, None))
                except ChannelError as exc:
                    kind = "permanent" if exc.permanent else "transient"
                    out.append((name, f"{exc.message} ({kind})"))
            return out

        return asyncio.run(go())

    def prune(self, *, dry_run: bool = False) -> Pruned:
        """Apply ``evidence.raw_retention`` now."""
        self.migrate()
        cutoff = self.clock() - self.config.evidence.raw_retention
        with self.sessions() as session, session.begin():
            return prune(session, cutoff, dry_run=dry_run)


def build(
    config: Config,
    *,
    database_url: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    channel_transport: httpx.AsyncBaseTransport | None = None,
    clock: Clock = utcnow,
    channels: Sequence[Channel] | None = None,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Any] | None = None,
) -> App:
    """Wire the application; every outside resource may be injected."""
    engine = create_db_engine(
        database_url or config.database.url,
        busy_timeout_s=config.database.busy_timeout.total_seconds(),
    )
    source_objs = {
        name: sources.load(opts.kind)(name, opts) for name, opts in config.sources.items()
    }
    if channels is None:
        channels = build_channels(
            config.alerts.model_dump(by_alias=True, mode="python"),
            transport=channel_transport,
            clock=clock,
        )
    return App(
        config=config,
        engine=engine,
        sessions=session_factory(engine),
        clock=clock,
        sources=source_objs,
        channels={c.name: c for c in channels},
        transport=transport,
        monotonic=monotonic,
        sleep=sleep,
    )


RECHECK_GRACE = timedelta(minutes=1)
