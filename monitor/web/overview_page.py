"""The overview page (``/``): watched people × sources, a state and a sparkline per cell.

``overview_html(app)`` reads the database only and never fails on an empty one (the daemon
serves it from its first minute). Each person links to ``report/<url-quoted name>``,
relative so that the pages also work behind a reverse proxy under a path prefix.
``report_html`` is re-exported: the daemon mounts both from here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from monitor.report.overview import Cell, cell_state, overview
from monitor.web.chart import sparkline_svg
from monitor.web.markup import esc, page, time_tag
from monitor.web.report_page import report_html, state_badge

if TYPE_CHECKING:
    from monitor.app import App

__all__ = ["overview_html", "report_html"]


def _cell(cell: Cell | None) -> str:
    if cell is None:
        return '<td class="muted">—</td>'
    lines = []
    for v in cell.series:
        last = v.last
        count = "—" if last is None or last.count is None else str(last.count)
        lines.append(
            f'<span class="term">{esc(v.term)}: {count} {state_badge(cell_state(v))}</span>'
            f"{sparkline_svg(v.points)}"
        )
    return f'<td class="cell state-cell-{esc(cell.worst)}">{"".join(lines)}</td>'


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def overview_html(app: App) -> str:
    """The overview page (see module docstring)."""
    with app.sessions() as session:
        grid = overview(session, app.config)
    body = ["<h1>Image absence monitor</h1>"]
    if not grid.rows:
        body.append(
            '<p class="message">No checks recorded yet: the first round has not run. '
            "This page fills in as soon as it has.</p>"
        )
        return page("Image absence monitor", "\n".join(body), generated=app.clock())
    body.append(
        f'<p class="muted">{_plural(len(grid.rows), "person", "people")} on '
        f"{_plural(len(grid.sources), 'source', 'sources')}; "
        f"last check {time_tag(grid.latest)}. Sparklines: the last checks of each series, "
        "failed checks as red ticks (never as zeros).</p>"
    )
    head = "".join(f"<th>{esc(s)}</th>" for s in grid.sources)
    rows = []
    for name, cells in grid.rows:
        worst = Cell(tuple(v for c in cells.values() for v in c.series))
        state = state_badge(worst.worst) if worst.series else ""
        rows.append(
            f'<tr><th><a href="report/{esc(quote(name, safe=""))}">{esc(name)}</a> {state}</th>'
            + "".join(_cell(cells.get(s)) for s in grid.sources)
            + "</tr>"
        )
    body.append(
        f'<table class="grid-table"><thead><tr><th>Person</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
    return page("Image absence monitor", "\n".join(body), generated=app.clock())
