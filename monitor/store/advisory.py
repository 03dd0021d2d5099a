"""The leader's PostgreSQL session: one dedicated connection holding a session-level
advisory lock, tuned so that a partitioned holder loses the lock within seconds.

``dedicated_connection`` opens it outside any pool, with TCP keepalives on both ends (the
client's libpq ``keepalives*`` and ``tcp_user_timeout``, the server's ``tcp_keepalives_*``
and ``tcp_user_timeout``): the server ends the session of a leader it cannot reach (its
lock is freed), and the leader's own next statement fails instead of hanging. A leader
that is paused (SIGSTOP) still answers keepalives from its kernel: ``holder_pid`` and
``terminate`` let a candidate end that session once the leader's lease is long past.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

# Seconds; the server gives up on a silent peer after idle + interval x count = 11 s, and
# on unacknowledged data after TCP_USER_TIMEOUT_MS.
KEEPALIVE_IDLE, KEEPALIVE_INTERVAL, KEEPALIVE_COUNT = 5, 2, 3
TCP_USER_TIMEOUT_MS = 10_000
CONNECT_TIMEOUT = 5


def dedicated_connection(url: str, application_name: str) -> Connection:
    """A new connection to ``url`` (a PostgreSQL SQLAlchemy URL) that no pool hands to
    anyone else and that ``close()`` really closes (its session-level locks go with it)."""
    connect_args: dict[str, Any] = {
        "keepalives": 1,
        "keepalives_idle": KEEPALIVE_IDLE,
        "keepalives_interval": KEEPALIVE_INTERVAL,
        "keepalives_count": KEEPALIVE_COUNT,
        "tcp_user_timeout": TCP_USER_TIMEOUT_MS,
        "connect_timeout": CONNECT_TIMEOUT,
        "application_name": application_name[:63],
    }
    engine = create_engine(make_url(url), poolclass=NullPool, connect_args=connect_args)
    conn = engine.connect()
    try:
        for name, value in (
            ("tcp_keepalives_idle", KEEPALIVE_IDLE),
            ("tcp_keepalives_interval", KEEPALIVE_INTERVAL),
            ("tcp_keepalives_count", KEEPALIVE_COUNT),
            ("tcp_user_timeout", TCP_USER_TIMEOUT_MS),
        ):
            conn.execute(
                text("SELECT set_config(:name, :value, false)"),
                {
                    "name": name,
                    "value": str(value),
                },
            )
        conn.commit()
    except Exception:
        conn.close()
        raise
    return conn


def try_lock(conn: Connection, key: int) -> bool:
    """Take the session-level advisory lock ``key`` if it is free; whether it was."""
    got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
    conn.commit()
    return got


def unlock(conn: Connection, key: int) -> None:
    """Release the advisory lock ``key`` held by this session."""
    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
    conn.commit()


def holder_pid(conn: Connection, key: int) -> int | None:
    """The server process id of the session holding advisory lock ``key`` (None: free).

    A bigint key shows in ``pg_locks`` as ``classid`` (high 32 bits), ``objid`` (low 32
    bits) and ``objsubid`` 1."""
    pid = conn.execute(
        text(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND classid = :hi AND objid = :lo AND objsubid = 1"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ),
        {"hi": (key >> 32) & 0xFFFFFFFF, "lo": key & 0xFFFFFFFF},
    ).scalar()
    conn.commit()
    return None if pid is None else int(pid)


def terminate(conn: Connection, pid: int) -> bool:
    """End server process ``pid``'s session (its locks are released as it exits);
    whether the signal was sent. Needs the same role as that session, or a superuser
    or ``pg_signal_backend`` role."""
    sent = bool(conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar())
    conn.commit()
    return sent
