"""One daemon per database: a second one refuses to start with a clear message.

SQLite: an exclusive ``flock`` on ``<database>.lock`` next to the file (released by the kernel
when the process dies, even by ``kill -9``). PostgreSQL: a session-level advisory lock on a
connection held for the daemon's lifetime. Other backends: no lock, with a warning.
"""

from __future__ import annotations

import fcntl
import logging
import os
from typing import Any

from sqlalchemy import Engine, text

from monitor.core.errors import MonitorError
from monitor.store.db import sqlite_path

logger = logging.getLogger(__name__)
ADVISORY_KEY = 0x1A5E7C  # arbitrary, constant: "absence monitor"


class AlreadyRunning(MonitorError):
    """Another daemon holds the database."""


class DaemonLock:
    """Held from ``acquire()`` to ``release()``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._fd: int | None = None
        self._conn: Any = None

    def acquire(self) -> None:
        path = sqlite_path(self.engine.url.render_as_string(hide_password=False))
        backend = self.engine.url.get_backend_name()
        if path is not None:
            lock_path = f"{path}.lock"
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
                os.close(fd)
                raise AlreadyRunning(
                    f"another absence-monitor daemon is running on {path} "
                    f"(pid {holder or 'unknown'}, lock {lock_path})"
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            self._fd = fd
        elif backend == "postgresql":
            conn = self.engine.connect()
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_KEY})
            if not got.scalar():
                conn.close()
                raise AlreadyRunning("another absence-monitor daemon is running on this database")
            conn.commit()
            self._conn = conn
        else:
            logger.warning("no single-daemon lock for %s databases", backend)

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
        if self._conn is not None:
            # The lock belongs to the session, and a pooled connection outlives close():
            # unlock explicitly, then drop the connection rather than return it to the pool.
            self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_KEY})
            self._conn.invalidate()
            self._conn.close()
            self._conn = None
