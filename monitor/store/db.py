"""Open a database by SQLAlchemy URL, with the settings each backend needs.

SQLite (the default) gets WAL mode, foreign keys on, and a busy timeout so that the CLI and
the daemon can share a file. Readers never wait for the writer: a session's implicit
transaction (autobegin, what every read does) is a deferred ``BEGIN``, which in WAL mode
reads the last committed state without taking any lock; only an explicit
``session.begin()`` (what every write does) is ``BEGIN IMMEDIATE``, which takes the write
lock up front so two writers never deadlock on a lock upgrade. How long each write waited
for that lock is recorded (``lock_waits``). Any other SQLAlchemy URL is passed through;
PostgreSQL is supported (``postgresql+psycopg://``). JSON columns are written without spaces.

``retrying(fn)`` runs a write transaction again when it collided with another writer (the
SQLite lock still held after the busy timeout, a PostgreSQL unique or serialization
conflict): a collision delays a round, it never loses it.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    IntegrityError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from monitor.core.errors import DatabaseError

logger = logging.getLogger(__name__)
T = TypeVar("T")
WRITE = "absence_write"  # the execution option that makes a transaction BEGIN IMMEDIATE


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL, or None for other backends and in-memory databases."""
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


@dataclass
class LockWaits:
    """How long write transactions waited for SQLite's write lock (seconds)."""

    count: int = 0
    total: float = 0.0
    longest: float = 0.0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def add(self, seconds: float) -> None:
        with self._lock:
            self.count += 1
            self.total += seconds
            self.longest = max(self.longest, seconds)


_WAITS: weakref.WeakKeyDictionary[Engine, LockWaits] = weakref.WeakKeyDictionary()


def lock_waits(engine: Engine) -> LockWaits:
    """The write-lock waits of ``engine`` so far (all zero on PostgreSQL)."""
    return _WAITS.setdefault(engine, LockWaits())


def compact_json(value: Any) -> str:
    """JSON without the spaces after ``,`` and ``:`` (the default's): a detector state
    holds a point per check of its window, and each round rewrites it."""
    return json.dumps(value, separators=(",", ":"))


def create_db_engine(url: str, *, busy_timeout_s: float = 30.0, echo: bool = False) -> Engine:
    """An Engine for ``url``; raises ``DatabaseError`` for a URL SQLAlchemy cannot use."""
    try:
        u = make_url(url)
    except ArgumentError as exc:
        raise DatabaseError(f"database.url: not a database URL: {exc}") from None
    kwargs: dict[str, Any] = {"echo": echo, "json_serializer": compact_json}
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
    waits = lock_waits(engine)

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
        if not conn.get_execution_options().get(WRITE):
            conn.exec_driver_sql("BEGIN")  # deferred: a WAL reader takes no lock
            return
        started = time.monotonic()
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        waits.add(time.monotonic() - started)


class _Session(Session):
    """A session whose explicit ``begin()`` opens a write transaction (``BEGIN IMMEDIATE``
    on SQLite) and whose implicit one (autobegin, reads) a deferred one."""

    def begin(self, nested: bool = False) -> SessionTransaction:
        self.info[WRITE] = True
        return super().begin(nested)

    def get_bind(self, *args: Any, **kwargs: Any) -> Any:
        bind = super().get_bind(*args, **kwargs)
        if not self.info.get(WRITE) or not isinstance(bind, Engine):
            return bind
        # One write bind per session: the transaction keys its connections by bind, and a
        # second connection would wait for the lock the first one holds.
        cached = self.info.get("absence_write_bind")
        if cached is None or cached[0] is not bind:
            cached = (bind, bind.execution_options(**{WRITE: True}))
            self.info["absence_write_bind"] = cached
        return cached[1]


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit; reads are deferred
    transactions, ``session.begin()`` a write transaction (see the module docstring)."""
    return sessionmaker(engine, class_=_Session, expire_on_commit=False)


def is_collision(exc: BaseException) -> bool:
    """Whether ``exc`` is another writer getting in the way (worth running again)."""
    if isinstance(exc, IntegrityError):
        return "unique" in str(exc.orig).lower() or "duplicate" in str(exc.orig).lower()
    if isinstance(exc, OperationalError | DBAPIError):
        text = str(exc.orig).lower()
        return any(
            marker in text
            for marker in ("database is locked", "deadlock", "could not serialize", "busy")
        )
    return False


# What the storage says when it refuses a write (SQLite; PostgreSQL's SQLSTATE class 53
# and its "could not extend/write" messages): a full disk, a file size limit, a read-only
# file, an I/O error. Nothing of the transaction is written; it can run again later.
_STORAGE_MARKERS = (
    "database or disk is full",
    "disk i/o error",
    "readonly database",
    "no space left on device",
    "could not extend file",
    "could not write",
    "file too large",
)


def storage_refusal(exc: BaseException) -> str | None:
    """One line saying the storage refused a write (full disk, file size limit, read-only,
    I/O error), or None when ``exc`` is anything else."""
    if not isinstance(exc, DBAPIError):
        return None
    text = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else ""
    sqlstate = getattr(exc.orig, "sqlstate", None) or ""
    if sqlstate.startswith("53") or any(m in text.lower() for m in _STORAGE_MARKERS):
        hint = ": a full disk, a file size limit or a failing disk" if "i/o" in text.lower() else ""
        return f"the database refused the write ({text[:200]}{hint})"
    return None


_DOWN = ("57P01", "57P02", "57P03")


def unreachable(exc: BaseException) -> str | None:
    """One line saying the database could not be reached (the server down or restarting,
    the connection cut, a SQLite file that cannot be opened), or None when ``exc`` is
    anything else: a bug, a refused statement, a collision with another writer."""
    if not isinstance(exc, DBAPIError) or is_collision(exc):
        return None
    if not exc.connection_invalidated:
        if not isinstance(exc, OperationalError | InterfaceError):
            return None
        code = getattr(exc.orig, "sqlite_errorcode", None)
        sqlstate = getattr(exc.orig, "sqlstate", None) or ""
        if code is not None and code != sqlite3.SQLITE_CANTOPEN:
            return None  # SQLite answered: a locked, full or broken file is not "unreachable"
        # PostgreSQL: no SQLSTATE (the client could not connect) or class 08; 57P01-03:
        # the server is shutting down or starting up. Any other state is an answer.
        if code is None and sqlstate and sqlstate[:2] != "08" and sqlstate not in _DOWN:
            return None
    return f"the database is unreachable ({first_line(exc)})"


def first_line(exc: BaseException) -> str:
    """The first line of what the database driver said (at most 200 characters)."""
    orig = getattr(exc, "orig", None) or exc
    return (str(orig).strip().splitlines() or [type(orig).__name__])[0][:200]


def retrying(
    fn: Callable[[], T],
    *,
    what: str,
    attempts: int = 8,
    sleep: Callable[[float], Any] = time.sleep,
) -> T:
    """``fn()`` (a whole write transaction), run again after a collision with another
    writer, up to ``attempts`` times; any other error is raised at once."""
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except DBAPIError as exc:
            if not is_collision(exc) or attempt == attempts:
                raise
            delay = min(5.0, 0.1 * 2**attempt)
            logger.warning(
                "%s collided with another writer (attempt %d), again in %.1fs: %s",
                what,
                attempt,
                delay,
                str(exc.orig).splitlines()[0][:200],
            )
            sleep(delay)
    raise AssertionError("unreachable")
