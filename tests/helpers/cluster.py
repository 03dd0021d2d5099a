"""A cluster-mode database for tests: a fresh PostgreSQL database (``fresh_postgres``)
migrated to head, with a watch list of ``people`` on one source synced into it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from monitor.config import parse_config
from monitor.store import catalog, migrate
from monitor.store.catalog import SeriesRef
from monitor.store.db import create_db_engine, session_factory
from tests.helpers.backends import fresh_postgres

ADMIN_URL = os.environ.get("ABSENCE_TEST_POSTGRES_URL")
needs_postgres = [
    pytest.mark.postgres,
    pytest.mark.skipif(not ADMIN_URL, reason="set ABSENCE_TEST_POSTGRES_URL to run"),
]


@dataclass
class ClusterDb:
    """The database's URL, an engine and sessions on it, and the synced series."""

    url: str
    engine: Engine
    sessions: sessionmaker[Session]
    refs: list[SeriesRef]


@contextmanager
def cluster_db(people: int = 6, vantage: str = "de") -> Iterator[ClusterDb]:
    """A migrated PostgreSQL database holding ``people`` people on source ``bing``."""
    assert ADMIN_URL
    names = ", ".join(f"{{name: P{i}}}" for i in range(people))
    config = parse_config(
        f"vantage: {vantage}\npeople: [{names}]\nsources: {{bing: {{kind: bing_images}}}}\n",
        "config.yaml",
        {},
    )
    with fresh_postgres(ADMIN_URL) as url:
        engine = create_db_engine(url)
        try:
            migrate.upgrade(engine)
            sessions = session_factory(engine)
            with sessions() as session, session.begin():
                refs = catalog.sync(session, config)
            yield ClusterDb(url, engine, sessions, refs)
        finally:
            engine.dispose()
