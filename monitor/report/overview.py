"""The overview grid: watched people × sources, each cell with its series' recent checks.

A cell's state is the most alarming of its series: the detector's ``dropped``/``partial``,
then ``failing`` (the last check failed), ``pending``, ``stale``, ``normal``. Only the last
``SPARK_POINTS`` checks of each series are read, so the page stays cheap on a big database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.config import Config
from monitor.report.data import SeriesView, detector_summary, points
from monitor.store.catalog import CONTROL_PERSON_PREFIX
from monitor.store.models import Person, Series, SourceRow, Term

SPARK_POINTS = 40
STATE_ORDER = ("dropped", "partial", "failing", "pending", "stale", "normal", "insufficient_data")


@dataclass(frozen=True, slots=True)
class Cell:
    """One person × source square of the overview."""

    series: tuple[SeriesView, ...]

    @property
    def worst(self) -> str:
        """The most alarming state among the cell's series."""
        states = [cell_state(s) for s in self.series]
        return min(
            states, key=lambda s: STATE_ORDER.index(s) if s in STATE_ORDER else len(STATE_ORDER)
        )


def cell_state(view: SeriesView) -> str:
    """A series' state for the grid: the detector's, or what its last check says."""
    last = view.last
    if view.detector_status in ("dropped", "partial"):
        return view.detector_status
    if last is not None and last.failed:
        return "failing"
    if view.stale:
        return "stale"
    return view.detector_status or "insufficient_data"


@dataclass
class Overview:
    """Watched people × sources."""

    sources: list[str]
    rows: list[tuple[str, dict[str, Cell]]]
    latest: datetime | None


def overview(session: Session, config: Config) -> Overview:
    """The grid of the overview page; empty when nothing is in the database yet."""
    people = session.execute(
        select(Person.id, Person.name)
        .where(Person.name.not_like(f"{CONTROL_PERSON_PREFIX}%"))
        .order_by(Person.name)
    ).all()
    sources: set[str] = set()
    rows: list[tuple[str, dict[str, Cell]]] = []
    latest: datetime | None = None
    for pid, name in people:
        views = _series_views_recent(session, config, pid)
        cells: dict[str, list[SeriesView]] = {}
        for v in views:
            cells.setdefault(v.source, []).append(v)
            if v.last is not None and (latest is None or v.last.t > latest):
                latest = v.last.t
        sources.update(cells)
        rows.append((name, {k: Cell(tuple(v)) for k, v in cells.items()}))
    return Overview(sorted(sources), rows, latest)


def _series_views_recent(session: Session, config: Config, person_id: int) -> list[SeriesView]:
    views = []
    for series, term, source in session.execute(
        select(Series, Term.text, SourceRow.name)
        .join(Term, Term.id == Series.term_id)
        .join(SourceRow, SourceRow.id == Series.source_id)
        .where(Series.person_id == person_id)
        .order_by(SourceRow.name, Term.id)
    ).all():
        view = SeriesView(series.id, "", term, source, series.vantage, series.role)
        view.points, view.total_checks = points(session, series.id, SPARK_POINTS)
        view.detector_status, view.baseline, view.stale = detector_summary(
            config, source, series.detector_state
        )
        views.append(view)
    return views
