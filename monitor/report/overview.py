"""The overview grid: watched people × sources, each cell with its series' recent checks
(one per term and vantage, the vantage named when there are several).

A cell's state is the most alarming of its series: the detector's ``dropped``/``partial``,
then ``failing`` (the last check failed), ``pending``, ``stale``, ``normal``. Only the last
``SPARK_POINTS`` checks of each series are read, so the page stays cheap on a big database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from monitor.config import Config
from monitor.report.data import SeriesView, series_views
from monitor.store.report_reads import watched_people
from monitor.store.vantage_reads import known_vantages

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
    vantages: list[str] = field(default_factory=list)  # where series are checked from


def overview(session: Session, config: Config) -> Overview:
    """The grid of the overview page; empty when nothing is in the database yet."""
    people = watched_people(session)
    # The series of everyone in one query, not one per person; the checks are still read
    # per series, and only the last ``SPARK_POINTS`` of each.
    by_person: dict[str, dict[str, list[SeriesView]]] = {}
    latest: datetime | None = None
    for v in series_views(session, config, [pid for pid, _ in people], SPARK_POINTS, spans=False):
        by_person.setdefault(v.person, {}).setdefault(v.source, []).append(v)
        if v.last is not None and (latest is None or v.last.t > latest):
            latest = v.last.t
    rows: list[tuple[str, dict[str, Cell]]] = [
        (name, {k: Cell(tuple(v)) for k, v in by_person.get(name, {}).items()})
        for _, name in people
    ]
    sources = {source for cells in by_person.values() for source in cells}
    return Overview(sorted(sources), rows, latest, known_vantages(session))
