"""The outbox: alert rows and one delivery row per alert and channel.

Contract:

- ``enqueue`` adds an alert and its deliveries inside the caller's transaction, the one that
  also writes the snapshot and the detector state: either all of it is stored or none.
- Alerts that share a ``group_key`` (drops found in one round on one source) are delivered as
  one message per channel: their deliveries share a ``delivery_uuid`` and are always claimed,
  sent and updated together.
- ``claim`` is a conditional UPDATE: a dispatcher proceeds only if it changed every row of
  the group, so two dispatchers never send the same message. A claim left behind by a process
  that died (its lease ran out, or its pid is gone on this host) can be claimed again; the
  message then goes out again with the same delivery id, so a receiver can drop it.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.orm import Session

from monitor.store.models import Alert, Delivery, DeliveryAttempt

LEASE = timedelta(minutes=5)


def instance_id() -> str:
    """``host:pid:nonce`` of this process, written into the claims it makes."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def enqueue(
    session: Session,
    *,
    payload: dict[str, Any],
    channels: Iterable[str],
    now: datetime,
    group_key: str | None = None,
    person_id: int | None = None,
    source_id: int | None = None,
    series_id: int | None = None,
    episode_id: int | None = None,
    snapshot_id: int | None = None,
) -> Alert:
    """Add an alert and one pending delivery per channel (caller commits)."""
    alert = Alert(
        created_at=now,
        event=str(payload["event"]),
        person_id=person_id,
        source_id=source_id,
        series_id=series_id,
        episode_id=episode_id,
        snapshot_id=snapshot_id,
        group_key=group_key or f"a:{uuid.uuid4().hex}",
        payload=payload,
    )
    session.add(alert)
    session.flush()
    payload = {**payload, "alert_id": alert.id}
    alert.payload = payload
    for channel in channels:
        session.add(
            Delivery(
                alert_id=alert.id,
                channel=channel,
                delivery_uuid=_group_uuid(session, alert.group_key, channel),
                state="pending",
                attempts=0,
                next_attempt_at=now,
            )
        )
    return alert


def _group_uuid(session: Session, group_key: str, channel: str) -> str:
    """The delivery id of a group on a channel: shared by its alerts, unique across
    databases (a round id repeats in another database, a random id does not)."""
    existing = session.scalar(
        select(Delivery.delivery_uuid)
        .join(Alert, Alert.id == Delivery.alert_id)
        .where(Alert.group_key == group_key, Delivery.channel == channel)
        .limit(1)
    )
    return existing or str(uuid.uuid4())


@dataclass(frozen=True)
class Batch:
    """Deliveries of one message: same channel, same delivery id."""

    channel: str
    delivery_uuid: str
    delivery_ids: tuple[int, ...]
    payloads: tuple[dict[str, Any], ...]
    attempts: int
    dead_owners: tuple[str, ...] = ()  # claims seen from processes that are gone


def pid_is_dead(claimed_by: str | None) -> bool:
    """Whether a claim was made by a process of this host that no longer runs (or by none);
    another host's process cannot be told: its claim waits for its lease."""
    if not claimed_by:
        return True
    host, _, rest = claimed_by.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def other_process(claimed_by: str | None) -> bool:
    """Whether a claim was made by a process other than this one (or by none)."""
    if not claimed_by:
        return True
    host, _, rest = claimed_by.partition(":")
    return host != socket.gethostname() or rest.partition(":")[0] != str(os.getpid())


def due_batches(
    session: Session,
    now: datetime,
    limit: int = 200,
    channels: Iterable[str] | None = None,
    *,
    dead: Callable[[str | None], bool] = pid_is_dead,
) -> list[Batch]:
    """Messages ready to send: pending and due, or claimed by a process that is gone
    (``dead``: by default a process of this host that no longer runs; a claim whose lease
    ran out is taken over in any case); with ``channels``, only those on one of them (the
    others wait for their channel)."""
    due = or_(
        and_(Delivery.state == "pending", Delivery.next_attempt_at <= now),
        Delivery.state == "sending",
    )
    if channels is not None:
        due = and_(due, Delivery.channel.in_(list(channels)))
    query = select(Delivery, Alert.payload).join(Alert, Alert.id == Delivery.alert_id)
    first = session.execute(query.where(due).order_by(Delivery.id).limit(limit)).all()
    # The limit must never split a group: a part sent alone would carry the group's delivery
    # id, and a receiver dropping duplicates would drop the other part.
    uuids = {d.delivery_uuid for d, _ in first}
    rows = (
        session.execute(
            query.where(due, Delivery.delivery_uuid.in_(uuids)).order_by(Delivery.id)
        ).all()
        if uuids
        else []
    )
    groups: dict[tuple[str, str], list[tuple[Delivery, dict[str, Any]]]] = {}
    for delivery, payload in rows:
        if delivery.state == "sending" and not (
            (delivery.claimed_until is not None and delivery.claimed_until < now)
            or dead(delivery.claimed_by)
        ):
            continue
        groups.setdefault((delivery.channel, delivery.delivery_uuid), []).append(
            (delivery, payload)
        )
    return [
        Batch(
            channel=channel,
            delivery_uuid=duid,
            delivery_ids=tuple(d.id for d, _ in members),
            payloads=tuple(p for _, p in members),
            attempts=max(d.attempts for d, _ in members),
            dead_owners=tuple({d.claimed_by for d, _ in members if d.claimed_by}),
        )
        for (channel, duid), members in groups.items()
    ]


def claim(session: Session, batch: Batch, owner: str, now: datetime) -> bool:
    """Claim every row of ``batch`` for ``owner``; False (and nothing changed) if another
    dispatcher got there first. The caller commits on True, rolls back on False."""
    # Re-check in SQL what due_batches saw: still pending, or still held by the same dead
    # process (or an expired lease). Anything else means another dispatcher moved first.
    stale = or_(
        and_(Delivery.state == "pending", Delivery.next_attempt_at <= now),
        and_(Delivery.state == "sending", Delivery.claimed_until < now),
        and_(Delivery.state == "sending", Delivery.claimed_by.in_(batch.dead_owners)),
    )
    result = session.execute(
        update(Delivery)
        .where(Delivery.id.in_(batch.delivery_ids), stale)
        .values(state="sending", claimed_by=owner, claimed_until=now + LEASE)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0)) == len(batch.delivery_ids)


def record_attempt(
    session: Session,
    batch: Batch,
    *,
    started: datetime,
    finished: datetime,
    error: str | None,
    permanent: bool,
    next_attempt_at: datetime | None,
    owner: str | None = None,
) -> str:
    """Record one attempt for every row of the batch and its outcome; returns the new state:
    ``delivered``, ``pending`` (retry at ``next_attempt_at``) or ``failed``.

    With ``owner``, only rows this dispatcher still holds are updated: a late outcome from a
    claim that expired and was taken over must not undo what the new holder recorded.
    """
    if error is None:
        state = "delivered"
    elif permanent or next_attempt_at is None:
        state = "failed"
    else:
        state = "pending"
    for did in batch.delivery_ids:
        session.add(
            DeliveryAttempt(
                delivery_id=did,
                started_at=started,
                finished_at=finished,
                ok=error is None,
                permanent=permanent,
                error=error,
            )
        )
    values: dict[str, Any] = {
        "state": state,
        "attempts": Delivery.attempts + 1,
        "claimed_by": None,
        "claimed_until": None,
        "last_error": error,
    }
    if state == "delivered":
        values["delivered_at"] = finished
    if state == "pending" and next_attempt_at is not None:
        values["next_attempt_at"] = next_attempt_at
    held: list[ColumnElement[bool]] = [Delivery.id.in_(batch.delivery_ids)]
    if owner is not None:
        held += [Delivery.state == "sending", Delivery.claimed_by == owner]
    session.execute(
        update(Delivery).where(*held).values(**values).execution_options(synchronize_session=False)
    )
    return state


def outbox_depth(session: Session) -> tuple[int, datetime | None]:
    """Undelivered deliveries and the creation time of the oldest one."""
    rows = session.execute(
        select(Delivery.id, Alert.created_at)
        .join(Alert, Alert.id == Delivery.alert_id)
        .where(Delivery.state.in_(("pending", "sending")))
    ).all()
    oldest = min((r[1] for r in rows), default=None)
    return len(rows), oldest


def alerts_with_deliveries(
    session: Session, limit: int | None
) -> list[tuple[Alert, Sequence[Delivery]]]:
    """The latest ``limit`` alerts (None: all), newest first, each with its deliveries."""
    alerts = list(session.scalars(select(Alert).order_by(Alert.id.desc()).limit(limit)))
    ids = [a.id for a in alerts]
    by_alert: dict[int, list[Delivery]] = {i: [] for i in ids}
    if ids:
        for d in session.scalars(
            select(Delivery).where(Delivery.alert_id.in_(ids)).order_by(Delivery.channel)
        ):
            by_alert[d.alert_id].append(d)
    return [(a, by_alert[a.id]) for a in alerts]
