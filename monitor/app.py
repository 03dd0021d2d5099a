"""The composition root: the one place where config, database, fetcher, sources, detector,
outbox and channels are wired together.

``build(config, ...)`` takes every outside resource as an optional argument (HTTP transport,
clock, channels), so tests, the demo and the benchmarks run the real code path against
local peers or fakes (STYLE.md, 5). Wiring only: the commands (``monitor.cli``), the daemon
and the demo take what they need from the ``App``; no command logic lives here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from monitor import sources
from monitor.channels import build_channels
from monitor.channels.base import Channel, ThumbnailLookup
from monitor.channels.dispatch import Dispatcher, RetryPolicy
from monitor.config import Config
from monitor.core.clock import Clock, utcnow
from monitor.core.errors import DatabaseError
from monitor.core.memory import limit_arenas
from monitor.evidence.thumbnails import remove_files, thumbnail_dir
from monitor.fetch.client import Fetcher
from monitor.fetch.guard import Resolver, system_resolver
from monitor.rounds.runner import Rounds
from monitor.sources.base import Source
from monitor.store import catalog, migrate
from monitor.store.catalog import SeriesRef
from monitor.store.cluster import fenced_sessions
from monitor.store.db import create_db_engine, session_factory
from monitor.store.thumbnails import alert_thumbnails

if TYPE_CHECKING:
    # Loaded by the jobs that use them, not by every command that builds the app.
    from monitor.core.metrics import Metrics
    from monitor.evidence.archive import Archiver
    from monitor.evidence.timestamps import Stamper
    from monitor.store.retention import Pruned


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
    # Resolves the hosts of scraped thumbnail URLs for the address guard (tests inject one).
    resolver: Resolver = system_resolver
    # A cluster node: the epoch it leads under (None while it does not lead). The leader's
    # work (delivery, retention, the archive, the time-stamps) then goes through
    # ``leader_sessions``, whose every transaction opens with the fence (``led_by``).
    leader_epoch: Callable[[], int | None] | None = None
    dispatcher: Dispatcher = field(init=False)
    leader_sessions: sessionmaker[Session] = field(init=False)

    def __post_init__(self) -> None:
        alerts = self.config.alerts
        epoch = self.leader_epoch
        self.leader_sessions = (
            self.sessions if epoch is None else fenced_sessions(self.sessions, epoch)
        )
        self.dispatcher = Dispatcher(
            self.leader_sessions,
            self.channels,
            clock=self.clock,
            policy=RetryPolicy(alerts.retry_delays()),
            # A leader paused between its claim and the send must not send (late, after
            # its successor may have): no duplicate beyond a kill between send and record.
            may_send=None if epoch is None else lambda: epoch() is not None,
            sole=epoch is not None,
        )
        self.dispatcher.on_delivered.append(self._count_delivery)

    def led_by(self, epoch: Callable[[], int | None]) -> App:
        """This app as a cluster node whose leader's work is fenced under ``epoch()``."""
        return replace(self, leader_epoch=epoch)

    def _count_delivery(self, batch: Any, state: str, error: str | None) -> None:
        if self.metrics is not None:
            self.metrics.alerts.labels(batch.channel, state).inc(len(batch.delivery_ids))

    # -- schema and catalog -----------------------------------------------------------
    def migrate(self, *, apart: bool = False) -> None:
        """Bring the schema to head (idempotent). With ``apart`` (the daemon's choice), a
        database in a file or on a server is upgraded by a child process: Alembic, Mako and
        Pygments take 12 MiB that a long-running process would otherwise keep for good."""
        if migrate.at_head(self.engine):
            return
        if apart and self.engine.url.database not in (None, "", ":memory:"):
            _upgrade_apart(self.engine.url.render_as_string(hide_password=False))
        else:
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
            resolver=self.resolver,
        )

    def archiver(self) -> Archiver | None:
        """The Save Page Now job's worker, or None when ``evidence.archive.wayback`` is off.
        Its own client: the archive is not an engine (no politeness slot, its own keys)."""
        wayback = self.config.evidence.archive.wayback
        if not wayback.enabled or wayback.access_key is None or wayback.secret_key is None:
            return None
        from monitor import __version__
        from monitor.evidence.archive import Archiver
        from monitor.evidence.wayback import SavePageNow

        client = SavePageNow(
            wayback.url,
            wayback.access_key.get_secret_value(),
            wayback.secret_key.get_secret_value(),
            user_agent=f"image-absence-monitor/{__version__} (evidence archiving)",
        )
        return Archiver(self.leader_sessions, wayback, client, self.clock)

    def stamper(self) -> Stamper | None:
        """The log's time-stamping job, or None without ``evidence.timestamp_url``. The TSA
        is the user's choice, not a scraped address: its own plain client."""
        url = self.config.evidence.timestamp_url
        if not url:
            return None
        # Imported here: cryptography and rfc3161_client cost the daemon 13 MiB of memory,
        # worth paying only when time-stamping is configured (it is off by default).
        from monitor.evidence.timestamps import Stamper

        return Stamper(self.leader_sessions, url, clock=self.clock)

    def reloaded(self, config: Config) -> App:
        """This app with a new config: the same database, clock, transport and metrics;
        sources, channels and the dispatcher built anew from ``config``."""
        app = build(
            config,
            engine=self.engine,
            transport=self.transport,
            clock=self.clock,
            monotonic=self.monotonic,
            sleep=self.sleep,
            resolver=self.resolver,
        )
        app.metrics = self.metrics
        return app if self.leader_epoch is None else app.led_by(self.leader_epoch)

    def prune(self, *, dry_run: bool = False) -> Pruned:
        """Apply ``evidence.raw_retention`` now (an alert's evidence is kept until released,
        or ``evidence.alert_retention``); files of pruned thumbnails are removed after."""
        from monitor.store.retention import prune

        self.migrate()
        evidence, now = self.config.evidence, self.clock()
        held_since = now - evidence.alert_retention if evidence.alert_retention else None
        with self.leader_sessions() as session, session.begin():
            pruned = prune(
                session, now - evidence.raw_retention, held_since=held_since, dry_run=dry_run
            )
        remove_files(self.thumbnail_dir, pruned.orphan_files)
        return pruned


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
    resolver: Resolver = system_resolver,
    engine: Engine | None = None,
) -> App:
    """Wire the application; every outside resource may be injected (``engine``: an open
    database, as when the daemon reloads its config)."""
    limit_arenas()  # before the first worker thread allocates (core.memory says why)
    if engine is None:
        engine = create_db_engine(
            database_url or config.database.url,
            busy_timeout_s=config.database.busy_timeout.total_seconds(),
        )
    database_url = engine.url.render_as_string(hide_password=False)
    source_objs = {
        name: sources.load(opts.kind)(name, opts) for name, opts in config.sources.items()
    }
    sessions = session_factory(engine)
    if channels is None:
        kept = thumbnail_dir(config.evidence.thumbnail_dir, database_url)
        channels = build_channels(
            config.alerts,
            transport=channel_transport,
            clock=clock,
            thumbnails=None if kept is None else _thumbnail_lookup(sessions, kept),
        )
    return App(
        config=config,
        engine=engine,
        sessions=sessions,
        clock=clock,
        sources=source_objs,
        channels={c.name: c for c in channels},
        transport=transport,
        monotonic=monotonic,
        sleep=sleep,
        resolver=resolver,
    )


# A child process's upgrade: the URL comes in the environment (never on a command line,
# where ``ps`` shows it); a failure is its one line on stderr and exit status 1.
_UPGRADE = """
import os, sys
sys.modules["httpx._main"] = None
from monitor.store.db import create_db_engine
from monitor.store.migrate import upgrade
try:
    upgrade(create_db_engine(os.environ["ABSENCE_MONITOR_UPGRADE_URL"]))
except Exception as exc:
    sys.exit(" ".join(str(getattr(exc, "orig", None) or exc).split()) or type(exc).__name__)
"""


def _upgrade_apart(url: str) -> None:
    """Upgrade the database at ``url`` in a child process; ``DatabaseError`` with the
    child's message when it fails."""
    env = {**os.environ, "ABSENCE_MONITOR_UPGRADE_URL": url}
    done = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", _UPGRADE], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        raise DatabaseError(f"schema upgrade failed: {lines[-1]}")


def _thumbnail_lookup(sessions: sessionmaker[Session], directory: Path) -> ThumbnailLookup:
    """The mail channel's way to the kept thumbnails (one short read per mail)."""

    def lookup(
        alert_ids: Sequence[int], image_urls: Sequence[str]
    ) -> Mapping[str, tuple[bytes, str]]:
        wanted = set(image_urls)
        out: dict[str, tuple[bytes, str]] = {}
        with sessions() as session:
            for alert_id in alert_ids:
                for url, kept in alert_thumbnails(session, directory, alert_id).items():
                    if url in wanted and url not in out:
                        out[url] = (kept.data, kept.content_type)
        return out

    return lookup


RECHECK_GRACE = timedelta(minutes=1)
