"""The overview page (``/``): what needs attention first (open episodes, recent alerts with
their dates, each source's health: ``report.attention``), then the grid of watched people ×
sources, a state and a sparkline per cell.

``overview_html(sessions, config, now=...)`` reads the database only and never fails on an
empty one (the daemon serves it from its first minute). Each person links to
``report/<url-quoted name>``, relative so that the pages also work behind a reverse proxy
under a path prefix; the name is quoted to one path segment, so it cannot become a scheme
or leave the prefix. The markup is ``templates/overview.html``; escaping and URL rules:
``templating.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from monitor.config import Config
from monitor.report.attention import attention
from monitor.report.overview import Cell, cell_state, overview
from monitor.web.templating import render_page

TITLE = "Image absence monitor"


@dataclass(frozen=True, slots=True)
class Row:
    """One person of the grid: their cells by source, and the worst state of them all."""

    name: str
    cells: dict[str, Cell]
    state: str | None  # None: no series yet


def overview_html(sessions: sessionmaker[Session], config: Config, *, now: datetime) -> str:
    """The overview page (see module docstring); ``now`` is the time it says it was made."""
    with sessions() as session:
        grid = overview(session, config)
        needs = attention(session)
    rows = []
    for name, cells in grid.rows:
        every = Cell(tuple(v for c in cells.values() for v in c.series))
        rows.append(Row(name, cells, every.worst if every.series else None))
    return render_page(
        "overview.html",
        title=TITLE,
        generated=now,
        rows=rows,
        sources=grid.sources,
        latest=grid.latest,
        vantages=grid.vantages,
        cell_state=cell_state,
        attention=needs,
    )
