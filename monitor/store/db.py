"""Open a database by SQLAlchemy URL, with the settings each backend needs.

SQLite (the default) gets WAL mode (readers never block the writer), foreign keys on, and a
busy timeout so that the CLI and the daemon can share a file. Any other SQLAlchemy URL is
passed through; PostgreSQL is supported (``postgresql+psycopg://``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from monitor.core.errors import DatabaseError


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL, or None for other backends and in-memory databases."""
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


def create_db_engine(url: str, *, busy_timeout_s: float = 30.0, echo: bool = False) -> Engine:
    """An Engine for ``url``; raises ``DatabaseError`` for a URL SQLAlchemy cannot use."""
    try:
        u = make_url(url)
    except ArgumentError as exc:
        raise DatabaseError(f"database.url: not a database URL: {exc}") from None
    kwargs: dict[str, Any] = {"echo": echo}
    if u.get_backend_name() == "sqlite":
        path = sqlite_path(url)
        if path is not None and not path.parent.exists():
            raise DatabaseError(f"database.url: directory {path.parent} does not exist")
        kwargs["connect_args"] = {"timeout": busy_timeout_s}
    else:
        kwargs["pool_pre_ping"] = True
    try:
        engine = create_engine(u, **kwargs)
    except (ArgumentError, ImportError) as exc:
        raise DatabaseError(f"database.url: cannot use {u.render_as_string()}: {exc}") from None
    if u.get_backend_name() == "sqlite":
        _sqlite_pragmas(engine, busy_timeout_s)
    return engine


def _sqlite_pragmas(engine: Engine, busy_timeout_s: float) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # pysqlite's own transaction handling breaks SAVEPOINT and BEGIN IMMEDIATE; let
        # SQLAlchemy emit BEGIN itself (documented recipe).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        if engine.url.database not in (None, "", ":memory:"):
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Take the write lock up front: two writers never deadlock on a lock upgrade.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)
