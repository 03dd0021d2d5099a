"""Read-only queries the commands print: a person's snapshot history.

Each function takes a ``Session`` and returns plain rows (dicts with stable keys), so the
CLI can print them as a table, CSV or JSON without knowing the schema.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.core.clock import iso_utc
from monitor.core.errors import MonitorError
from monitor.store.models import Person, Series, Snapshot, SourceRow, Term

HISTORY_FIELDS = [
    "snapshot_id",
    "person",
    "term",
    "source",
    "vantage",
    "round_id",
    "started_at",
    "finished_at",
    "status",
    "reason",
    "http_status",
    "image_count",
    "reported_total",
    "domain_count",
    "pages",
    "elapsed_ms",
    "image_set_id",
    "excluded",
]


def history_rows(
    session: Session, person: str, source: str | None, limit: int
) -> list[dict[str, Any]]:
    """Every snapshot of ``person`` (optionally one source), oldest first; with ``limit``,
    the last ``limit`` of each series. Keys are ``HISTORY_FIELDS``, times ISO 8601."""
    p = session.scalar(select(Person).where(Person.name == person))
    if p is None:
        raise MonitorError(f"no person named {person!r} in the database")
    q = (
        select(Snapshot, Term.text, SourceRow.name, Series.vantage)
        .join(Series, Series.id == Snapshot.series_id)
        .join(Term, Term.id == Series.term_id)
        .join(SourceRow, SourceRow.id == Series.source_id)
        .where(Series.person_id == p.id)
        .order_by(Snapshot.id)
    )
    if source:
        q = q.where(SourceRow.name == source)
    rows = []
    for snap, term, src, vantage in session.execute(q):
        rows.append(
            {
                "snapshot_id": snap.id,
                "person": person,
                "term": term,
                "source": src,
                "vantage": vantage,
                "round_id": snap.round_id,
                "started_at": iso_utc(snap.started_at),
                "finished_at": iso_utc(snap.finished_at),
                "status": snap.status,
                "reason": snap.reason,
                "http_status": snap.http_status,
                "image_count": snap.image_count,
                "reported_total": snap.reported_total,
                "domain_count": snap.domain_count,
                "pages": snap.pages,
                "elapsed_ms": snap.elapsed_ms,
                "image_set_id": snap.image_set_id,
                "excluded": snap.excluded,
            }
        )
    if limit:
        per: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        for r in rows:
            per.setdefault((str(r["term"]), str(r["source"]), str(r["vantage"])), []).append(r)
        rows = sorted(
            (r for rs in per.values() for r in rs[-limit:]),
            key=lambda r: int(str(r["snapshot_id"])),
        )
    return rows


def has_checks(session: Session) -> bool:
    """Whether the database holds any snapshot at all (a report needs one)."""
    return session.scalar(select(Snapshot.id).limit(1)) is not None
