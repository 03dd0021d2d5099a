"""Text for the pages: escaping, and how times and numbers are printed.

``esc`` is for the one place that writes markup by hand, the SVG charts of ``chart.py``: every
string they put into an element or an attribute goes through it. Everything else is written by
the templates (``templating.py``), where autoescape does the same without being asked.
"""

from __future__ import annotations

from datetime import UTC, datetime

from markupsafe import escape


def esc(value: object) -> str:
    """``value`` as text safe inside an element or a quoted attribute (``None`` is empty)."""
    return str(escape("" if value is None else str(value)))


def fmt_time(moment: datetime | None) -> str:
    """``2025-03-01 12:00 UTC`` (minutes are enough for checks hours apart)."""
    if moment is None:
        return "—"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def fmt_num(value: float | None) -> str:
    """A count or a baseline without a useless ``.0``; ``—`` when there is none."""
    if value is None:
        return "—"
    return f"{value:g}" if value != int(value) else str(int(value))
