"""Alembic environment: migrations run against the connection the program hands over
(``config.attributes["connection"]``), or a URL for developers running ``alembic`` by hand.

``render_as_batch`` lets ALTER TABLE work on SQLite, which rebuilds tables for most changes.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection

from monitor.store.db import create_db_engine
from monitor.store.models import Base

target_metadata = Base.metadata
config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url") or os.environ.get(
        "ABSENCE_MONITOR_DATABASE", "sqlite:///absence-monitor.db"
    )
    engine = create_db_engine(url)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
