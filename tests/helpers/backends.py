"""The two database backends a test can run on: SQLite in the test's directory, and a
fresh PostgreSQL database where ``ABSENCE_TEST_POSTGRES_URL`` is set (skipped otherwise)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError

ADMIN_URL = os.environ.get("ABSENCE_TEST_POSTGRES_URL")


@contextmanager
def fresh_postgres(admin_url: str) -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped afterwards."""
    name = f"absence_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            try:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            except ProgrammingError:
                # FORCE refuses to end another role's process (an autovacuum worker that
                # started on the new database) without pg_signal_backend; a plain DROP
                # stops autovacuum itself, and the test's own sessions are closed by now.
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'm.db'}"
        return
    if not ADMIN_URL:
        pytest.skip("set ABSENCE_TEST_POSTGRES_URL to run")
    with fresh_postgres(ADMIN_URL) as url:
        yield url
