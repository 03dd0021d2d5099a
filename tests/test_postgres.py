"""PostgreSQL against a real server: migrations, a round of checks, the outbox, the lock.

Runs when ABSENCE_TEST_POSTGRES_URL names a role that may create databases (``.ci/run``
starts a server and sets it); each test gets a database of its own.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import inspect, select

from monitor.cli.main import cli
from monitor.daemon.lock import AlreadyRunning, DaemonLock
from monitor.store import migrate
from monitor.store.db import create_db_engine, session_factory
from monitor.store.models import Base, Snapshot
from monitor.testing import LocalServer, Reply, Request
from tests.helpers.backends import fresh_postgres

ADMIN_URL = os.environ.get("ABSENCE_TEST_POSTGRES_URL")
FIX = Path(__file__).parent / "fixtures" / "sources"
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not ADMIN_URL, reason="set ABSENCE_TEST_POSTGRES_URL to run"),
]


@pytest.fixture
def pg_url() -> Iterator[str]:
    assert ADMIN_URL
    with fresh_postgres(ADMIN_URL) as url:
        yield url


def test_postgres_upgrade_to_head_matches_models(pg_url: str) -> None:
    engine = create_db_engine(pg_url)
    migrate.upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
    assert diff == []
    migrate.downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    migrate.upgrade(engine)
    engine.dispose()


def test_postgres_check_stores_snapshots(pg_url: str, tmp_path: Path) -> None:
    def engine_handler(req: Request) -> Reply:
        return Reply(200, (FIX / "bing_images/search-results-stripped.html").read_bytes())

    with LocalServer(engine_handler) as server:
        cfg = tmp_path / "config.yaml"
        cfg.write_text(
            f"""
people: [{{name: Dong Jingwei}}, {{name: 陈一新}}]
sources:
  bing: {{kind: bing_images, base_url: "{server.url}", rate: 50/1s, controls: [panda]}}
""",
            encoding="utf-8",
        )
        result = CliRunner().invoke(cli, ["--config", str(cfg), "--database", pg_url, "check"])
        assert result.exit_code == 0, result.output
    engine = create_db_engine(pg_url)
    with session_factory(engine)() as session:
        snaps = list(session.scalars(select(Snapshot)))
    assert [(s.status, s.image_count) for s in snaps] == [("ok", 5)] * 3
    assert all(s.finished_at.tzinfo is not None for s in snaps)
    engine.dispose()


def test_postgres_second_daemon_lock_is_refused(pg_url: str) -> None:
    engine = create_db_engine(pg_url)
    first, second = DaemonLock(engine), DaemonLock(engine)
    first.acquire()
    try:
        with pytest.raises(AlreadyRunning):
            second.acquire()
    finally:
        first.release()
    second.acquire()
    second.release()
    engine.dispose()
