"""Read-only queries behind the report and the overview page: people, series, checks,
episodes and alerts, as plain rows (the vanished images: ``vanished_reads``).

Each function takes a ``Session`` and returns frozen ``NamedTuple`` rows defined here (or
plain ids, names and dicts), never model objects, so ``monitor.report`` builds its read models
without knowing the schema. Nothing here writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from monitor.store.catalog import CONTROL_PERSON_PREFIX
from monitor.store.models import (
    Alert,
    Episode,
    Person,
    Series,
    Snapshot,
    SourceRow,
    Term,
)


class PersonRow(NamedTuple):
    """A person as the catalog holds them."""

    person_id: int
    name: str
    role: str
    notes: str


class SeriesRow(NamedTuple):
    """A series with the names of its person, term and source, and its stored detector state."""

    series_id: int
    person_id: int
    person: str
    term: str
    source: str
    source_id: int
    vantage: str
    role: str
    detector_state: dict[str, Any] | None


class RecentCheck(NamedTuple):
    """One snapshot: ``image_count`` is None when the check failed."""

    snapshot_id: int
    finished_at: datetime
    status: str
    image_count: int | None
    reason: str | None
    excluded: bool


class EpisodeRow(NamedTuple):
    """An episode; ``series_id`` is None for a source-wide one, ``closed_at`` while open."""

    episode_id: int
    series_id: int | None
    kind: str
    state: str
    opened_at: datetime
    closed_at: datetime | None
    baseline: float | None
    metric: str | None


class AlertRow(NamedTuple):
    """An alert; ``source`` is None when it names no source row, ``payload`` is ``{}`` when
    the stored payload is not a JSON object."""

    alert_id: int
    created_at: datetime
    event: str
    source: str | None
    series_id: int | None
    payload: dict[str, Any]
    episode_id: int | None = None


def watched_people(session: Session) -> list[tuple[int, str]]:
    """(person id, name) of every watched person, by name; control people are left out
    (the report shows them beside the people watched on the same source, never alone)."""
    rows = session.execute(
        select(Person.id, Person.name)
        .where(Person.name.not_like(f"{CONTROL_PERSON_PREFIX}%"))
        .order_by(Person.name)
    )
    return [(pid, name) for pid, name in rows]


def stored_people(session: Session) -> dict[str, list[str]]:
    """Every person in the database (controls left out) with the texts of their terms."""
    out: dict[str, list[str]] = {}
    rows = session.execute(
        select(Person.name, Term.text)
        .outerjoin(Term, Term.person_id == Person.id)
        .where(Person.name.not_like(f"{CONTROL_PERSON_PREFIX}%"))
    )
    for name, text in rows:
        out.setdefault(name, [])
        if text is not None:
            out[name].append(text)
    return out


def person_named(session: Session, name: str) -> PersonRow | None:
    """The person called ``name``; None when there is no such person."""
    p = session.scalar(select(Person).where(Person.name == name))
    return None if p is None else PersonRow(p.id, p.name, p.role, p.notes)


def person_ids(session: Session, names: Sequence[str]) -> list[int]:
    """The ids of the people among ``names`` that exist, in no particular order."""
    if not names:
        return []
    return list(session.scalars(select(Person.id).where(Person.name.in_(list(names)))))


def series_rows(session: Session, person_ids: Sequence[int]) -> list[SeriesRow]:
    """Every series of the people ``person_ids``, ordered by source name, term (in the order
    the terms were first stored), then vantage; empty for no ids."""
    if not person_ids:
        return []
    rows = session.execute(
        select(Series, Person.name, Term.text, SourceRow.name)
        .join(Person, Person.id == Series.person_id)
        .join(Term, Term.id == Series.term_id)
        .join(SourceRow, SourceRow.id == Series.source_id)
        .where(Series.person_id.in_(list(person_ids)))
        .order_by(SourceRow.name, Term.id, Series.vantage)
    ).all()
    return [
        SeriesRow(
            s.id,
            s.person_id,
            person,
            term,
            source,
            s.source_id,
            s.vantage,
            s.role,
            s.detector_state,
        )
        for s, person, term, source in rows
    ]


def recent_checks(session: Session, series_id: int, limit: int) -> tuple[list[RecentCheck], int]:
    """The latest ``limit`` snapshots of ``series_id``, oldest first, and how many snapshots
    the series has in all."""
    # One row more than asked tells whether there are more, so the count query runs only
    # for a series longer than ``limit``.
    snaps = session.execute(
        select(
            Snapshot.id,
            Snapshot.finished_at,
            Snapshot.status,
            Snapshot.image_count,
            Snapshot.reason,
            Snapshot.excluded,
        )
        .where(Snapshot.series_id == series_id)
        .order_by(Snapshot.id.desc())
        .limit(limit + 1)
    ).all()
    total = len(snaps)
    if total > limit:
        total = (
            session.scalar(
                select(func.count()).select_from(Snapshot).where(Snapshot.series_id == series_id)
            )
            or 0
        )
        snaps = snaps[:limit]
    return [RecentCheck(*s) for s in reversed(snaps)], total


def episode_rows(session: Session, series_id: int, source_id: int) -> list[EpisodeRow]:
    """The episodes of ``series_id`` and the source-wide ones of ``source_id``, by opening
    time (then id)."""
    rows = session.scalars(
        select(Episode)
        .where(
            or_(
                Episode.series_id == series_id,
                (Episode.series_id.is_(None)) & (Episode.source_id == source_id),
            )
        )
        .order_by(Episode.opened_at, Episode.id)
    )
    return [
        EpisodeRow(
            e.id, e.series_id, e.kind, e.state, e.opened_at, e.closed_at, e.baseline, e.metric
        )
        for e in rows
    ]


def alert_row(alert: Alert, source: str | None) -> AlertRow:
    """``alert`` as a row, with the name of its source when the caller has it."""
    payload = alert.payload if isinstance(alert.payload, dict) else {}
    return AlertRow(
        alert.id, alert.created_at, alert.event, source, alert.series_id, payload, alert.episode_id
    )


def person_alerts(
    session: Session, person_id: int, series_ids: Sequence[int], limit: int
) -> list[AlertRow]:
    """The latest ``limit`` alerts about ``person_id``, about any of ``series_ids``, or
    source-wide on a source of those series; oldest first."""
    sources_of_series = select(Series.source_id).where(Series.id.in_(list(series_ids)))
    rows = session.execute(
        select(Alert, SourceRow.name)
        .outerjoin(SourceRow, SourceRow.id == Alert.source_id)
        .where(
            or_(
                Alert.person_id == person_id,
                Alert.series_id.in_(list(series_ids)),
                (Alert.person_id.is_(None)) & (Alert.source_id.in_(sources_of_series)),
            )
        )
        .order_by(Alert.id.desc())
        .limit(limit)
    ).all()
    return [alert_row(alert, source) for alert, source in reversed(rows)]


def alerts_by_id(session: Session, alert_ids: Sequence[int]) -> list[AlertRow]:
    """The alerts of ``alert_ids`` that exist, by id; ``source`` is always None here (the
    callers read the source from the payload, as the alert told it)."""
    if not alert_ids:
        return []
    rows = session.scalars(select(Alert).where(Alert.id.in_(list(alert_ids))).order_by(Alert.id))
    return [alert_row(alert, None) for alert in rows]
