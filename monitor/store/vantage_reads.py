"""What the other vantage points see of a person on a source, for an alert's ``vantages``.

Every vantage checks every series (the same watch list and sources), so a person on one
source is a series per vantage (``series.vantage``). For an alert written from one vantage,
``other_vantages`` reads the person's watched series on the same source from every other
vantage: each one's latest check at the alert's time (a round of another vantage that ends
after the alert is not looked at) and the detector's stored state of that series (its
state and baseline). Read inside the round's transaction. ``known_vantages`` tells the
pages whether there is more than one vantage to label. Nothing here writes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.alerts.vantages import LastCheck, VantageReading, reading
from monitor.detector.points import SeriesKey
from monitor.detector.settings import DetectionSettings
from monitor.store.models import Series, Snapshot, Term
from monitor.store.rounds import state_of


def other_vantages(
    session: Session,
    *,
    person_id: int,
    source_id: int,
    vantage: str,
    at: datetime,
    settings: DetectionSettings,
    metric: str | None = None,
) -> list[VantageReading]:
    """The person's watched series on the source from every vantage but ``vantage``, each
    with its latest check finished by ``at`` (its count in ``metric``: images unless
    ``domains``) and its detector state; ordered by vantage and term."""
    rows = session.execute(
        select(Series, Term.text)
        .join(Term, Term.id == Series.term_id)
        .where(
            Series.person_id == person_id,
            Series.source_id == source_id,
            Series.vantage != vantage,
            Series.role == "watch",
        )
        .order_by(Series.vantage, Term.text)
    ).all()
    if not rows:
        return []
    out = []
    for series, term in rows:
        snap = _latest(session, series.id, at)
        last = None
        if snap is not None:
            count = snap.domain_count if metric == "domains" else snap.image_count
            last = LastCheck(snap.status, count, snap.finished_at, snap.id)
        out.append(
            reading(
                SeriesKey("", term, "", series.vantage),
                state_of(series.detector_state, settings),
                last,
                at=at,
                stale_after=settings.stale_after,
            )
        )
    return out


def _latest(session: Session, series_id: int, at: datetime) -> Snapshot | None:
    """The series' latest check finished by ``at`` (by the ``(series_id, id)`` index: a few
    rows read, however long the history)."""
    return session.scalar(
        select(Snapshot)
        .where(
            Snapshot.series_id == series_id,
            Snapshot.finished_at <= at,
            Snapshot.late.is_(None),  # stored late: not the latest by its id
        )
        .order_by(Snapshot.id.desc())
        .limit(1)
    )


def known_vantages(session: Session) -> list[str]:
    """Every vantage some series is checked from, by name (pages label a series with its
    vantage only when there is more than one)."""
    return list(session.scalars(select(Series.vantage).distinct().order_by(Series.vantage)))
