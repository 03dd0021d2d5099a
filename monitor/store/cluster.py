"""Cluster mode's nodes and leadership (``models.cluster``; PostgreSQL).

Nodes: ``register`` at start (refused, ``NodeNameTaken``, while another live node holds the
name: one that beat within ``live_within`` and did not stop), ``beat`` every heartbeat,
``list_nodes`` for ``absence-monitor nodes``.

Leadership: the advisory lock (``daemon.leader``) decides who leads; this row records it.
``take_over`` increments the fencing ``epoch``; ``renew`` extends the lease only while the
epoch is still the caller's; ``fence(session, epoch)``, run first in every transaction the
leader writes, raises ``StaleEpoch`` unless the epoch is still current, and holds a
key-share lock on the row until that transaction ends. ``take_over`` locks the row ``FOR
UPDATE`` first, so it waits for the old leader's write in flight and every later write of
the old leader is refused; a renewal only updates the lease (a no-key update, which a
key-share lock lets through), so a leader's long write (a round of 10,000 checks) does
not hold up its own renewals until its lease runs out.
``fenced_sessions(sessions, epoch_of)`` makes that automatic for a whole component (the
dispatcher, retention, the archive, the time-stamps): every transaction of its sessions
opens with the fence.

Lease times are the database's clock (``now()``), not the nodes': the nodes' clocks may
disagree by more than a lease, the server's is one clock for all.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, event, func, select, update
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from monitor.core.errors import MonitorError
from monitor.store.models import Leadership, Node

LEADERSHIP_ID = 1


class NodeNameTaken(MonitorError):
    """Another live node holds the name this node would register under."""


class StaleEpoch(MonitorError):
    """The leader's fencing epoch is no longer current: another node took over, so this
    one must not write (its transaction is rolled back)."""


@dataclass(frozen=True)
class NodeIdentity:
    """Who a node is, as it registers: name, vantage, version, host and process."""

    name: str
    vantage: str
    version: str
    host: str
    pid: int


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (signal 0 checks without sending)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def register(
    session: Session,
    me: NodeIdentity,
    now: datetime,
    live_within: timedelta,
    *,
    pid_alive: Callable[[int], bool] = _pid_alive,
) -> None:
    """Record ``me`` as a running node (caller commits); ``NodeNameTaken`` when the name
    belongs to a live node elsewhere.

    A row left by a node that stopped, or that has not beaten within ``live_within``, is
    taken over. On the same host the process tells for certain: a row of this host whose
    process is gone (a crash, a ``kill -9``, a container restarted with the same host name
    and pid 1) is this node's previous life, not a rival.
    """
    row = session.scalar(select(Node).where(Node.name == me.name).with_for_update())
    if row is not None and not row.stopped and now - row.last_seen < live_within:
        same_host_dead = row.host == me.host and (row.pid == me.pid or not pid_alive(row.pid))
        if not same_host_dead:
            raise NodeNameTaken(
                f'node name "{me.name}" is held by a running node (host {row.host}, pid '
                f"{row.pid}, vantage {row.vantage}, last seen {_ago(now, row.last_seen)} ago); "
                "give this one another cluster.node, or stop the other"
            )
    if row is None:
        row = Node(name=me.name)
        session.add(row)
    row.vantage, row.version, row.host, row.pid = me.vantage, me.version, me.host, me.pid
    row.started_at = row.last_seen = now
    row.role, row.spool_depth, row.stopped = "probe", 0, False


def _ago(now: datetime, then: datetime) -> str:
    return f"{max(0, int((now - then).total_seconds()))}s"


def beat(
    session: Session,
    name: str,
    now: datetime,
    *,
    role: str,
    spool_depth: int,
    stopped: bool = False,
) -> bool:
    """Update node ``name``'s heartbeat (caller commits); False when its row is gone (the
    node should register again)."""
    result = session.execute(
        update(Node)
        .where(Node.name == name)
        .values(last_seen=now, role=role, spool_depth=spool_depth, stopped=stopped)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def last_seen(session: Session, name: str) -> datetime | None:
    """When node ``name`` last beat (None: never registered)."""
    return session.scalar(select(Node.last_seen).where(Node.name == name))


def list_nodes(session: Session) -> list[Node]:
    """Every registered node, by vantage then name."""
    return list(session.scalars(select(Node).order_by(Node.vantage, Node.name)))


@dataclass(frozen=True)
class LeaderState:
    """The leadership row as read: the epoch, the node named leader and its lease (the
    database's time), and the database's time when it was read."""

    epoch: int
    node: str | None
    lease_until: datetime | None
    now: datetime

    @property
    def leader(self) -> str | None:
        """The node leading now: named, and its lease not run out."""
        if self.node is None or self.lease_until is None or self.lease_until <= self.now:
            return None
        return self.node


def leader_state(session: Session) -> LeaderState:
    """The leadership row (read only)."""
    row = session.execute(
        select(Leadership.epoch, Leadership.node, Leadership.lease_until, func.now()).where(
            Leadership.id == LEADERSHIP_ID
        )
    ).one()
    return LeaderState(row[0], row[1], row[2], _aware(row[3]))


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def take_over(session: Session, node: str, lease: timedelta) -> int:
    """Make ``node`` the leader under a new epoch, its lease ``lease`` from the database's
    now (caller commits); returns the new epoch. Only the holder of the leader's advisory
    lock calls this."""
    # FOR UPDATE waits for the fenced writes in flight (their key-share locks); the
    # UPDATE alone, a no-key update, would not.
    session.execute(select(Leadership.id).where(Leadership.id == LEADERSHIP_ID).with_for_update())
    epoch = session.execute(
        update(Leadership)
        .where(Leadership.id == LEADERSHIP_ID)
        .values(epoch=Leadership.epoch + 1, node=node, lease_until=func.now() + lease)
        .returning(Leadership.epoch)
    ).scalar_one()
    return int(epoch)


def renew(session: Session, node: str, epoch: int, lease: timedelta) -> bool:
    """Extend the lease of ``node`` leading under ``epoch`` (caller commits); False when
    the epoch moved on (another node took over: step down)."""
    result = session.execute(
        update(Leadership)
        .where(Leadership.id == LEADERSHIP_ID, Leadership.epoch == epoch, Leadership.node == node)
        .values(lease_until=func.now() + lease)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def resign(session: Session, node: str, epoch: int) -> None:
    """End ``node``'s lease under ``epoch`` now, so a successor need not wait for it."""
    session.execute(
        update(Leadership)
        .where(Leadership.id == LEADERSHIP_ID, Leadership.epoch == epoch, Leadership.node == node)
        .values(lease_until=func.now())
    )


def fence(session: Session | Connection, epoch: int) -> None:
    """Refuse the leader's transaction unless ``epoch`` is still current: the first
    statement of every transaction the leader writes (see the module docstring)."""
    current = session.scalar(
        select(Leadership.epoch)
        .where(Leadership.id == LEADERSHIP_ID)
        .with_for_update(read=True, key_share=True)
    )
    if current != epoch:
        raise StaleEpoch(
            f"leader epoch {epoch} is stale (now {current}): another node leads; "
            "this write is refused"
        )


def fenced_sessions(
    sessions: sessionmaker[Session], epoch_of: Callable[[], int | None]
) -> sessionmaker[Session]:
    """Sessions like ``sessions`` (same engine, same settings) whose every transaction, a
    read's included, opens with ``fence`` under ``epoch_of()``: the epoch the node leads
    under at that moment, None when it does not lead (then ``StaleEpoch`` at once, before
    any statement). What a leader-only component writes through them is written by the
    current leader or not at all, whenever the process was paused."""
    fenced: sessionmaker[Session] = sessionmaker(class_=sessions.class_, **sessions.kw)

    @event.listens_for(fenced, "after_begin")
    def _fence(session: Session, transaction: SessionTransaction, conn: Connection) -> None:
        epoch = epoch_of()
        if epoch is None:
            raise StaleEpoch("this node does not lead (any more): the leader's write is refused")
        fence(conn, epoch)

    return fenced
