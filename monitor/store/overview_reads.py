"""Read-only queries behind the overview's "what needs my attention": the episodes still
open, the latest alerts, and each source's health (last check, last success, failing since).

Each function takes a ``Session`` and returns frozen ``NamedTuple`` rows defined here (or
``report_reads.AlertRow``), never model objects; ``monitor.report.attention`` builds the
overview's read model from them. Nothing here writes.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from monitor.core.observation import OBSERVATION_VALUES
from monitor.store.models import Alert, Episode, Person, Series, Snapshot, SourceRow, Term
from monitor.store.report_reads import AlertRow, alert_row


class OpenEpisodeRow(NamedTuple):
    """An episode not closed yet: a series' drop (``person``, ``term`` and ``vantage`` set)
    or a source-wide one (they are None), with the series' latest valid count."""

    episode_id: int
    kind: str
    state: str
    person: str | None
    term: str | None
    source: str
    vantage: str | None
    opened_at: datetime
    baseline: float | None
    metric: str | None
    latest_count: int | None
    latest_at: datetime | None


class SourceHealthRow(NamedTuple):
    """A source's checks from one vantage at a glance: its latest check (time, status,
    reason), its latest successful one (``ok`` or ``no_results``), and since when every
    check has failed (None while the latest check succeeded)."""

    source: str
    vantage: str
    last_check: datetime | None
    last_status: str | None
    last_reason: str | None
    last_success: datetime | None
    failing_since: datetime | None

    @property
    def failing(self) -> bool:
        """The latest check failed."""
        return self.last_status is not None and self.last_status not in OBSERVATION_VALUES


def open_episodes(session: Session) -> list[OpenEpisodeRow]:
    """Every open episode, oldest first."""
    rows = session.execute(
        select(Episode, SourceRow.name, Person.name, Term.text, Series.vantage)
        .join(SourceRow, SourceRow.id == Episode.source_id)
        .outerjoin(Series, Series.id == Episode.series_id)
        .outerjoin(Person, Person.id == Series.person_id)
        .outerjoin(Term, Term.id == Series.term_id)
        .where(Episode.closed_at.is_(None))
        # A person's names in their configured order (series are stored in term order).
        .order_by(Episode.opened_at, Episode.series_id, Episode.id)
    ).all()
    out = []
    for e, source, person, term, vantage in rows:
        count, at = _latest_valid(session, e.series_id)
        out.append(
            OpenEpisodeRow(
                e.id,
                e.kind,
                e.state,
                person,
                term,
                source,
                vantage,
                e.opened_at,
                e.baseline,
                e.metric,
                count,
                at,
            )
        )
    return out


def _latest_valid(session: Session, series_id: int | None) -> tuple[int | None, datetime | None]:
    if series_id is None:
        return None, None
    row = session.execute(
        select(Snapshot.image_count, Snapshot.finished_at)
        .where(
            Snapshot.series_id == series_id,
            Snapshot.status.in_(OBSERVATION_VALUES),
            Snapshot.late.is_(None),  # stored late: not the latest by its id
        )
        .order_by(Snapshot.id.desc())
        .limit(1)
    ).first()
    return (row[0], row[1]) if row is not None else (None, None)


def recent_alerts(session: Session, limit: int) -> list[tuple[AlertRow, str | None]]:
    """The latest ``limit`` alerts, newest first, each with the name of its person (None
    for a source-wide alert)."""
    rows = session.execute(
        select(Alert, SourceRow.name, Person.name)
        .outerjoin(SourceRow, SourceRow.id == Alert.source_id)
        .outerjoin(Person, Person.id == Alert.person_id)
        .order_by(Alert.id.desc())
        .limit(limit)
    ).all()
    return [(alert_row(alert, source), person) for alert, source, person in rows]


def source_health(session: Session) -> list[SourceHealthRow]:
    """Each source with checks from each vantage, by name and vantage (see
    ``SourceHealthRow``): an engine may fail from one network and answer from another."""
    ok = Snapshot.status.in_(OBSERVATION_VALUES)
    by_source = session.execute(
        select(
            SourceRow.name,
            Series.vantage,
            func.max(Snapshot.id),
            func.max(case((ok, Snapshot.finished_at))),
        )
        .join(Series, Series.source_id == SourceRow.id)
        .join(Snapshot, Snapshot.series_id == Series.id)
        .group_by(SourceRow.name, Series.vantage)
        .order_by(SourceRow.name, Series.vantage)
    ).all()
    out = []
    for name, vantage, last_id, last_success in by_source:
        last = session.get(Snapshot, last_id)
        assert last is not None  # the id came from the table just now
        failing_since = None
        if last.status not in OBSERVATION_VALUES:
            failed = (
                Snapshot.status.not_in(OBSERVATION_VALUES)
                & (SourceRow.name == name)
                & (Series.vantage == vantage)
            )
            if last_success is not None:
                failed &= Snapshot.finished_at > last_success
            failing_since = session.scalar(
                select(func.min(Snapshot.finished_at))
                .join(Series, Series.id == Snapshot.series_id)
                .join(SourceRow, SourceRow.id == Series.source_id)
                .where(failed)
            )
        out.append(
            SourceHealthRow(
                name,
                vantage,
                last.finished_at,
                last.status,
                last.reason,
                last_success,
                failing_since,
            )
        )
    return out
