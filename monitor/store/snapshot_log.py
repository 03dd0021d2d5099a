"""The tamper-evident snapshot log: every snapshot chained to the one before it.

- ``append(session, snapshots)``: at the end of a round's write, inside its transaction,
  give each new snapshot the next position (``log_seq``) and its link (``log_hash``, the
  rule in ``monitor.core.loghash``), and move the head. The head row is read ``FOR UPDATE``
  (PostgreSQL: a second writer waits there until the first commits, then reads the head
  it left; SQLite: every write transaction holds the database's write lock already), and
  last, so a round holds it only for the moment before its commit.
- ``monitor.store.log_verify.verify(session)`` recomputes it (``db verify``).
- ``timestamps``, ``last_timestamp``, ``add_timestamp``, ``link_at``: the RFC 3161 tokens
  over the head (``monitor.evidence.timestamps``) and what they are checked against.
- ``entries(session, snapshot_ids)``: the log entries of some snapshots with the link
  before each, so a bundle can show them and a reader recompute them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from monitor.core import loghash
from monitor.store.models import (
    ImageSet,
    LogHead,
    LogTimestamp,
    Person,
    Series,
    Snapshot,
    SourceRow,
    Term,
)

SeriesName = tuple[str, str, str, str]


def series_names(session: Session, ids: Sequence[int] | None = None) -> dict[int, SeriesName]:
    """Person, term, source and vantage of each series (of ``ids``, or all)."""
    q = (
        select(Series.id, Person.name, Term.text, SourceRow.name, Series.vantage)
        .join(Person, Person.id == Series.person_id)
        .join(Term, Term.id == Series.term_id)
        .join(SourceRow, SourceRow.id == Series.source_id)
    )
    if ids is not None:
        q = q.where(Series.id.in_(list(ids)))
    return {sid: (p, t, s, v) for sid, p, t, s, v in session.execute(q)}


def fields_of(row: Any, names: dict[int, SeriesName], digest: bytes | None) -> dict[str, Any]:
    return loghash.entry(
        series=names.get(row.series_id, ("?", "?", "?", "?")),
        started_at=row.started_at,
        finished_at=row.finished_at,
        status=row.status,
        reason=row.reason,
        http_status=row.http_status,
        image_count=row.image_count,
        reported_total=row.reported_total,
        domain_count=row.domain_count,
        image_set=digest,
        body_sha256=row.body_sha256,
    )


def locked_head(session: Session) -> LogHead:
    """The head row, locked until the transaction ends (created on first use)."""
    head = session.scalar(
        select(LogHead)
        .where(LogHead.id == 1)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if head is None:
        # A second writer doing the same collides on the key and its round runs again.
        head = LogHead(id=1, seq=0, head=loghash.GENESIS)
        session.add(head)
        session.flush()
    return head


def append(
    session: Session,
    snapshots: Sequence[Any],
    now: datetime,
    *,
    names: dict[int, SeriesName] | None = None,
    digests: dict[int, bytes] | None = None,
) -> None:
    """Chain ``snapshots`` (new, written in this transaction: their columns and id as
    attributes) in id order. ``names`` (of their series) and ``digests`` (of their image
    sets) may come read already; the rest is read here."""
    if not snapshots:
        return
    ordered = sorted(snapshots, key=lambda s: s.id)
    if names is None:
        names = series_names(session, sorted({s.series_id for s in ordered}))
    set_ids = {s.image_set_id for s in ordered if s.image_set_id is not None}
    known = dict(digests or {})
    if set_ids - known.keys():
        wanted = list(set_ids - known.keys())
        known.update(
            {
                i: d
                for i, d in session.execute(
                    select(ImageSet.id, ImageSet.digest).where(ImageSet.id.in_(wanted))
                )
            }
        )
    head = locked_head(session)
    seq, link = head.seq, head.head
    links = []
    for snap in ordered:
        seq += 1
        link = loghash.link(link, fields_of(snap, names, known.get(snap.image_set_id)))
        links.append({"sid": snap.id, "seq": seq, "link": link})
    t = cast(Table, Snapshot.__table__)
    session.execute(
        update(t)
        .where(t.c.id == bindparam("sid"))
        .values(log_seq=bindparam("seq"), log_hash=bindparam("link")),
        links,
    )
    head.seq, head.head, head.updated_at = seq, link, now


COLUMNS = (
    Snapshot.id,
    Snapshot.log_seq,
    Snapshot.log_hash,
    Snapshot.series_id,
    Snapshot.started_at,
    Snapshot.finished_at,
    Snapshot.status,
    Snapshot.reason,
    Snapshot.http_status,
    Snapshot.image_count,
    Snapshot.reported_total,
    Snapshot.domain_count,
    Snapshot.body_sha256,
    ImageSet.digest,
)


def entries(session: Session, snapshot_ids: Sequence[int]) -> list[dict[str, Any]]:
    """The log entries of ``snapshot_ids`` in log order: seq, snapshot id, the link before
    it, the entry's canonical fields and its link (unlogged snapshots are left out)."""
    rows = session.execute(
        select(*COLUMNS)
        .outerjoin(ImageSet, ImageSet.id == Snapshot.image_set_id)
        .where(Snapshot.id.in_(list(snapshot_ids)), Snapshot.log_seq.is_not(None))
        .order_by(Snapshot.log_seq)
    ).all()
    names = series_names(session, sorted({r.series_id for r in rows}))
    before = {r.log_seq - 1 for r in rows if r.log_seq > 1}
    prev = dict(
        session.execute(
            select(Snapshot.log_seq, Snapshot.log_hash).where(Snapshot.log_seq.in_(before))
        ).all()
        if before
        else []
    )
    return [
        {
            "seq": r.log_seq,
            "snapshot_id": r.id,
            "previous": loghash.GENESIS if r.log_seq == 1 else prev.get(r.log_seq - 1),
            "entry": fields_of(r, names, r.digest),
            "link": r.log_hash,
        }
        for r in rows
    ]


def head(session: Session) -> tuple[int, str]:
    """The log's length and its last link (a bundle records the head it was exported at)."""
    row = session.get(LogHead, 1)
    return (row.seq, row.head) if row is not None else (0, loghash.GENESIS)


def link_at(session: Session, seq: int) -> str | None:
    """The link of entry ``seq`` (None: no such entry)."""
    return session.scalar(select(Snapshot.log_hash).where(Snapshot.log_seq == seq))


def timestamps(session: Session) -> list[LogTimestamp]:
    """The time-stamp tokens of the log's head, oldest first."""
    return list(session.scalars(select(LogTimestamp).order_by(LogTimestamp.id)))


def last_timestamp(session: Session) -> tuple[int, datetime] | None:
    """The entry and time of the last token (the daemon asks again once the log grew)."""
    row = session.execute(
        select(LogTimestamp.seq, LogTimestamp.created_at).order_by(LogTimestamp.id.desc()).limit(1)
    ).first()
    return (row[0], row[1]) if row is not None else None


def add_timestamp(session: Session, token: LogTimestamp) -> None:
    """Keep a token (caller commits)."""
    session.add(token)
