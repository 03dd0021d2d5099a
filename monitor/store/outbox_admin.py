"""What operators ask of the outbox and do to it, beside sending (``store.outbox``).

- ``waiting_for_channel``: undelivered deliveries whose channel is not configured any more
  (renamed or removed). They stay ``pending``; the dispatcher leaves them alone and sends
  them if the channel comes back.
- ``backlog``: what ``/healthz`` and ``/metrics`` show: undelivered deliveries and the oldest
  one's alert time, ``failed`` deliveries (given up, until resent) and ``overdue`` ones
  (undelivered, their attempt more than ``OVERDUE`` late: no dispatcher running, or their
  channel gone); given the configured channels, ``stalled`` counts the overdue ones of those
  channels alone (a dispatcher that should be sending them is not).
- ``resend``: ``alerts resend``. A ``failed`` delivery is re-armed: pending now, a fresh
  retry schedule, the **same delivery id** (its receiver never acknowledged it; one that
  processed it anyway drops the repeat), together with the other alerts of its message. A
  ``delivered`` one is sent again under a **new delivery id**, alone: its receiver
  acknowledged the old id and would drop a repeat of it. Pending ones are on their way and
  left as they are. Attempt rows are kept, so the history of the first delivery stays.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from monitor.store.models import Alert, Delivery
from monitor.store.outbox import outbox_depth

OVERDUE = timedelta(minutes=5)


def waiting_for_channel(session: Session, channels: Iterable[str]) -> dict[str, int]:
    """Undelivered deliveries per channel that is not among ``channels``."""
    rows = session.execute(
        select(Delivery.channel, func.count())
        .where(
            Delivery.state.in_(("pending", "sending")),
            Delivery.channel.not_in(list(channels)),
        )
        .group_by(Delivery.channel)
    ).all()
    return {str(channel): int(n) for channel, n in rows}


@dataclass(frozen=True)
class Backlog:
    """The outbox at one moment (see module docstring)."""

    depth: int
    oldest: datetime | None
    failed: int
    overdue: int
    stalled: int = 0


def backlog(session: Session, now: datetime, channels: Iterable[str] = ()) -> Backlog:
    """The outbox's ``Backlog`` at ``now``; ``stalled`` counts overdue deliveries of
    ``channels`` (the configured ones) only."""
    depth, oldest = outbox_depth(session)
    late = now - OVERDUE
    failed = session.scalar(select(func.count()).where(Delivery.state == "failed"))
    is_overdue = or_(
        and_(Delivery.state == "pending", Delivery.next_attempt_at < late),
        and_(Delivery.state == "sending", Delivery.claimed_until < late),
    )
    overdue = session.scalar(select(func.count()).where(is_overdue))
    names = list(channels)
    stalled = (
        session.scalar(select(func.count()).where(is_overdue, Delivery.channel.in_(names)))
        if names and overdue
        else 0
    )
    return Backlog(depth, oldest, int(failed or 0), int(overdue or 0), int(stalled or 0))


@dataclass(frozen=True)
class Resent:
    """What one ``resend`` did: deliveries re-armed under their id, sent again under a new
    one, and left alone because they are still on their way (``channel: state``)."""

    rearmed: list[tuple[int, str, str]]  # (alert id, channel, delivery id)
    renewed: list[tuple[int, str, str]]  # (alert id, channel, new delivery id)
    untouched: list[tuple[int, str, str]]  # (alert id, channel, state)


def missing_alerts(session: Session, alert_ids: Iterable[int]) -> list[int]:
    """The ids among ``alert_ids`` that no alert has, in order."""
    wanted = set(alert_ids)
    known = set(session.scalars(select(Alert.id).where(Alert.id.in_(list(wanted)))))
    return sorted(wanted - known)


def resend(
    session: Session,
    now: datetime,
    *,
    alert_ids: Sequence[int] = (),
    failed: bool = False,
    channel: str | None = None,
) -> Resent:
    """Resend the deliveries of ``alert_ids`` and, with ``failed``, every failed delivery
    (only those on ``channel`` when given); the caller commits. See the module docstring."""
    wanted: list[ColumnElement[bool]] = []
    if alert_ids:
        wanted.append(Delivery.alert_id.in_(list(alert_ids)))
    if failed:
        wanted.append(Delivery.state == "failed")
    if not wanted:
        return Resent([], [], [])
    query = select(Delivery).where(or_(*wanted)).order_by(Delivery.alert_id, Delivery.channel)
    if channel is not None:
        query = query.where(Delivery.channel == channel)
    rows = list(session.scalars(query))
    rearmed, renewed, untouched = [], [], []
    groups = set()
    for row in rows:
        if row.state == "failed":
            groups.add((row.channel, row.delivery_uuid))
        elif row.state == "delivered":
            row.delivery_uuid = str(uuid.uuid4())
            _rearm(row, now)
            renewed.append((row.alert_id, row.channel, row.delivery_uuid))
        else:
            untouched.append((row.alert_id, row.channel, row.state))
    for chan, duid in sorted(groups):
        # The whole message: a part sent alone under the group's id would make a receiver
        # that drops duplicates drop the rest of it later.
        members = session.scalars(
            select(Delivery).where(
                Delivery.channel == chan,
                Delivery.delivery_uuid == duid,
                Delivery.state == "failed",
            )
        )
        for row in members:
            _rearm(row, now)
            rearmed.append((row.alert_id, row.channel, row.delivery_uuid))
    session.flush()
    return Resent(sorted(rearmed), renewed, untouched)


def _rearm(row: Delivery, now: datetime) -> None:
    row.state = "pending"
    row.attempts = 0  # a fresh retry schedule; the attempt rows keep the history
    row.next_attempt_at = now
    row.claimed_by = row.claimed_until = None
