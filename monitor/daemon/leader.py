"""Which node leads the cluster: a PostgreSQL advisory lock on a dedicated connection,
and a fencing epoch for every write the leader makes.

``LeaderElection.step()`` runs every ``renew_every`` (a third of ``cluster.leader_lease``)
on every node, in a worker thread (it blocks on the database):

- a candidate tries the advisory lock (``LEADER_KEY``). Won: it increments the epoch in
  ``leadership`` (``store.cluster.take_over``) and leads under that epoch. Held by another
  node whose lease is long past (more than ``renew_every`` beyond its end: that leader
  missed three renewals; a SIGSTOPped process's kernel keeps its TCP session alive, so the
  server never frees its lock): the candidate ends that session (``pg_terminate_backend``)
  and takes over;
- the leader renews its lease. A renewal that fails (the connection is gone, or the epoch
  moved on) steps it down at once: ``epoch`` becomes None and the connection is closed,
  which frees the lock for the others.

``leading`` is true only while the last renewal is younger than the lease (by the
process's monotonic clock), so a leader whose renewals stall stops starting leader work
before anyone else may take over. It never replaces the fence: every transaction the
leader writes starts with ``store.cluster.fence(session, epoch)``, so a leader paused past
its lease that wakes up writes nothing. A node killed (-9) loses its connection, and with
it the lock: the next candidate's step takes over, within ``renew_every``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from monitor.store import advisory, cluster
from monitor.store.db import first_line

logger = logging.getLogger(__name__)
LEADER_KEY = 0x1A5E7D  # the daemon lock's key plus one: never the single-daemon lock
TERMINATE_WAIT = 3.0  # seconds a terminated session may take to exit and free the lock


class LeaderElection:
    """One node's part in the election (see the module docstring). ``step`` and ``close``
    may be called from any thread; a lock makes one wait for the other in flight."""

    def __init__(
        self,
        url: str,
        node: str,
        lease: timedelta,
        *,
        key: int = LEADER_KEY,
        connect: Callable[[str, str], Connection] = advisory.dedicated_connection,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] = time.sleep,
    ) -> None:
        self.url, self.node, self.lease, self.key = url, node, lease, key
        self._connect, self._monotonic, self._sleep = connect, monotonic, sleep
        self._conn: Connection | None = None
        self._epoch: int | None = None
        self._renewed = 0.0
        self._failing = False  # the database was unreachable at the last step
        self._lock = threading.Lock()

    @property
    def renew_every(self) -> timedelta:
        """How often ``step`` should run: a third of the lease."""
        return self.lease / 3

    @property
    def epoch(self) -> int | None:
        """The epoch this node leads under; None when it does not lead."""
        return self._epoch if self.leading else None

    @property
    def leading(self) -> bool:
        """Whether this node leads: it took over, and its last renewal is younger than
        the lease."""
        age = self._monotonic() - self._renewed
        return self._epoch is not None and age < self.lease.total_seconds()

    def step(self) -> bool:
        """Campaign or renew (see the module docstring); whether this node leads now."""
        with self._lock:
            try:
                if self._epoch is None:
                    self._campaign()
                else:
                    self._renew()
                self._failing = False
            except DBAPIError as exc:
                self._drop(f"the database connection failed: {first_line(exc)}")
                self._failing = True
            return self.leading

    def close(self) -> None:
        """Stop taking part: a leader ends its lease at once (a successor need not wait
        for it) and releases the lock; the connection is closed."""
        with self._lock:
            conn, epoch = self._conn, self._epoch
            if conn is not None and epoch is not None:
                try:
                    with Session(bind=conn) as session:
                        cluster.resign(session, self.node, epoch)
                        session.commit()
                    advisory.unlock(conn, self.key)
                    logger.info("leader: %s resigned (epoch %d)", self.node, epoch)
                except DBAPIError as exc:
                    logger.warning("leader: could not resign cleanly: %s", first_line(exc))
            self._drop(None)

    # -- internals ------------------------------------------------------------------------
    def _campaign(self) -> None:
        conn = self._connection()
        if not advisory.try_lock(conn, self.key) and not self._unseat(conn):
            return
        with Session(bind=conn) as session:
            epoch = cluster.take_over(session, self.node, self.lease)
            session.commit()
        self._epoch, self._renewed = epoch, self._monotonic()
        logger.warning("leader: %s leads the cluster now (epoch %d)", self.node, epoch)

    def _unseat(self, conn: Connection) -> bool:
        """End the lock holder's session if its lease is long past; whether this node
        holds the lock afterwards."""
        with Session(bind=conn) as session:
            state = cluster.leader_state(session)
            session.commit()
        if state.lease_until is None or state.now - state.lease_until <= self.renew_every:
            return False  # the holder is alive, or just became leader
        pid = advisory.holder_pid(conn, self.key)
        if pid is None:
            return advisory.try_lock(conn, self.key)  # freed meanwhile
        logger.warning(
            "leader: %s holds the lock but its lease ended %.0fs ago (paused or hung): "
            "ending its database session (pid %d) to take over",
            state.node,
            (state.now - state.lease_until).total_seconds(),
            pid,
        )
        advisory.terminate(conn, pid)
        waited = 0.0
        while waited < TERMINATE_WAIT:
            if advisory.try_lock(conn, self.key):
                return True
            self._sleep(0.1)
            waited += 0.1
        return False

    def _renew(self) -> None:
        assert self._conn is not None and self._epoch is not None
        with Session(bind=self._conn) as session:
            renewed = cluster.renew(session, self.node, self._epoch, self.lease)
            session.commit()
        if renewed:
            self._renewed = self._monotonic()
        else:
            self._drop(f"another node took over after epoch {self._epoch}")

    def _connection(self) -> Connection:
        if self._conn is None:
            self._conn = self._connect(self.url, f"absence-monitor leader {self.node}")
        return self._conn

    def _drop(self, why: str | None) -> None:
        """Forget the leadership and close the connection (its lock goes with it)."""
        if why is not None and self._epoch is not None:
            logger.warning("leader: %s steps down (epoch %d): %s", self.node, self._epoch, why)
        elif why is not None:
            # Once per outage: a node without its database retries every renew_every.
            log = logger.debug if self._failing else logger.warning
            log("leader: %s cannot campaign: %s", self.node, why)
        self._epoch = None
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()
                conn.close()
            except DBAPIError:
                pass  # already gone
