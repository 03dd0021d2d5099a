"""How the nodes of one vantage share a round's checks, and where their checks wait for
the leader (``models.cluster``; PostgreSQL).

A round is (source, vantage, slot). At its tick every node of the vantage calls
``ensure_claims`` (the first one creates a claim per series, the others find them there),
then ``claim``s batches of free ones: ``FOR UPDATE SKIP LOCKED`` hands each claim to one
node, and a claim whose lease ran out (its node died or stalled) is free again. A node
checks its batch, then in one transaction ``finish_claims`` (only those it still holds)
and ``stage``s the checks. The leader, once ``slot_complete`` (or the round's deadline
passed), reads ``staged_for`` the source and vantage, commits the round's snapshots and
``delete_staged`` in the same transaction. ``stage`` skips a check already staged or
already stored as a snapshot (the same ``check_id``): a node that forwards its spool twice,
or crashes between the commit and marking its spool, adds nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, tuple_, update
from sqlalchemy.orm import Session

from monitor.store.bulk import chunks, dialect_insert
from monitor.store.models import CheckClaim, Snapshot, StagedCheck


def slot_of(tick: datetime, every: timedelta) -> int:
    """The round number of a tick: ``floor(epoch seconds / every)``, the same on every
    node whatever its jitter within the interval."""
    return int(tick.timestamp() // every.total_seconds())


def ensure_claims(
    session: Session,
    source_id: int,
    vantage: str,
    slot: int,
    series_ids: Iterable[int],
    kind: str = "scheduled",
) -> None:
    """A free claim for each series in the round, unless it exists (caller commits)."""
    rows = [
        {"source_id": source_id, "vantage": vantage, "slot": slot, "series_id": s, "kind": kind}
        for s in sorted(set(series_ids))
    ]
    if not rows:
        return
    stmt = dialect_insert(session)(CheckClaim).on_conflict_do_nothing()
    for chunk in chunks(rows):
        session.execute(stmt, list(chunk))


def claim(
    session: Session,
    source_id: int,
    vantage: str,
    slot: int,
    node: str,
    now: datetime,
    lease: timedelta,
    n: int,
) -> list[int]:
    """Take up to ``n`` claims of the round for ``node`` until ``now + lease`` (caller
    commits); the series ids taken. Free claims and claims whose lease ran out qualify;
    rows another transaction is claiming are skipped, not waited for."""
    c = CheckClaim
    key = tuple_(c.source_id, c.vantage, c.slot, c.series_id)
    free = (
        select(c.source_id, c.vantage, c.slot, c.series_id)
        .where(
            c.source_id == source_id,
            c.vantage == vantage,
            c.slot == slot,
            c.done_at.is_(None),
            or_(c.lease_until.is_(None), c.lease_until < now),
        )
        .order_by(c.series_id)
        .limit(n)
        .with_for_update(skip_locked=True)
    )
    taken = session.scalars(
        update(c)
        .where(key.in_(free))
        .values(node=node, lease_until=now + lease)
        .returning(c.series_id)
        .execution_options(synchronize_session=False)
    )
    return sorted(taken)


def finish_claims(
    session: Session,
    source_id: int,
    vantage: str,
    slot: int,
    node: str,
    series_ids: Sequence[int],
    now: datetime,
) -> set[int]:
    """Mark done the claims of ``series_ids`` that ``node`` still holds (caller commits,
    with the ``stage`` of their checks); the series marked. A claim whose lease ran out
    and that another node took is not this node's any more: stage only what this returns,
    so no series is checked into one round twice."""
    c = CheckClaim
    done: set[int] = set()
    for chunk in chunks(sorted(set(series_ids))):
        done.update(
            session.scalars(
                update(c)
                .where(
                    c.source_id == source_id,
                    c.vantage == vantage,
                    c.slot == slot,
                    c.node == node,
                    c.done_at.is_(None),
                    c.series_id.in_(chunk),
                )
                .values(done_at=now)
                .returning(c.series_id)
                .execution_options(synchronize_session=False)
            )
        )
    return done


def slot_complete(session: Session, source_id: int, vantage: str, slot: int) -> bool:
    """Whether the round has claims and every one is done."""
    c = CheckClaim
    of_round = and_(c.source_id == source_id, c.vantage == vantage, c.slot == slot)
    total, open_ = session.execute(
        select(func.count(), func.count().filter(c.done_at.is_(None))).where(of_round)
    ).one()
    return bool(total) and not open_


@dataclass(frozen=True)
class OpenRound:
    """A round with claims or staged checks the leader has not closed yet."""

    source_id: int
    vantage: str
    slot: int


def open_rounds(session: Session) -> list[OpenRound]:
    """Every (source, vantage, slot) with claims or staged checks left, oldest first."""
    c, s = CheckClaim, StagedCheck
    rows = session.execute(
        select(c.source_id, c.vantage, c.slot).union(select(s.source_id, s.vantage, s.slot))
    ).all()
    return sorted((OpenRound(*row) for row in rows), key=lambda r: (r.slot, r.source_id, r.vantage))


def drop_claims(session: Session, source_id: int, vantage: str, up_to_slot: int) -> int:
    """Delete the claims of the source's rounds up to ``up_to_slot`` at ``vantage`` (the
    leader, as it closes them; caller commits); how many."""
    c = CheckClaim
    result = session.execute(
        delete(c).where(c.source_id == source_id, c.vantage == vantage, c.slot <= up_to_slot)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def stage(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Insert staged checks (``StagedCheck`` columns as dicts; caller commits), skipping any
    whose ``check_id`` is staged or stored as a snapshot already; how many were new."""
    if not rows:
        return 0
    ids = [r["check_id"] for r in rows]
    stored: set[str] = set()
    for chunk in chunks(ids):
        stored.update(
            session.scalars(select(Snapshot.check_id).where(Snapshot.check_id.in_(chunk)))
        )
    fresh = [r for r in rows if r["check_id"] not in stored]
    if not fresh:
        return 0
    stmt = (
        dialect_insert(session)(StagedCheck)
        .on_conflict_do_nothing(index_elements=["check_id"])
        .returning(StagedCheck.check_id)
    )
    added = 0
    for chunk in chunks(fresh):
        added += len(session.execute(stmt, list(chunk)).all())
    return added


def staged_for(
    session: Session, source_id: int, vantage: str, up_to_slot: int | None = None
) -> list[StagedCheck]:
    """The staged checks of a source at a vantage (up to ``up_to_slot``), in the order they
    were made: by slot, then start time."""
    s = StagedCheck
    query = select(s).where(s.source_id == source_id, s.vantage == vantage)
    if up_to_slot is not None:
        query = query.where(s.slot <= up_to_slot)
    return list(session.scalars(query.order_by(s.slot, s.started_at, s.check_id)))


def delete_staged(session: Session, check_ids: Sequence[str]) -> int:
    """Delete staged checks (the leader, in the transaction that stored them as
    snapshots); how many."""
    removed = 0
    for chunk in chunks(list(check_ids)):
        result = session.execute(delete(StagedCheck).where(StagedCheck.check_id.in_(chunk)))
        removed += int(result.rowcount)  # type: ignore[attr-defined]
    return removed


def open_claim_slots(session: Session, source_id: int, vantage: str) -> list[tuple[int, str]]:
    """The rounds of the source at ``vantage`` with claims not done, oldest first, each with
    its claims' kind (``recheck`` only when all are): where a node looks for work."""
    c = CheckClaim
    rows = session.execute(
        select(c.slot, func.max(c.kind))
        .where(c.source_id == source_id, c.vantage == vantage, c.done_at.is_(None))
        .group_by(c.slot)
        .order_by(c.slot)
    ).all()
    return [(int(slot), str(kind)) for slot, kind in rows]
