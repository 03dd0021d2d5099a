"""Text for the pages: escaping, bidi controls made visible, how times and numbers print.

``esc`` is for the one place that writes markup by hand, the SVG charts of ``chart.py``: every
string they put into an element or an attribute goes through it. Everything else is written by
the templates (``templating.py``), where autoescape does the same without being asked, and
where ``show_bidi`` runs on every printed value first.

Bidi controls (U+202A-U+202E embeddings and overrides, U+2066-U+2069 isolates, U+200E/U+200F
and U+061C marks) in scraped text would reorder what a reader sees around them: a title
ending in U+202E can make ``gpj.exe`` read ``exe.jpg`` or reverse a URL, so a page must not
carry them raw. A numeric reference (``&#x202E;``) would not help, the browser decodes it
into the same character. Removing them would hide that the engine's text held them. So
each becomes the visible text ``[U+202E]`` in its place: the page shows what was scraped,
in logical order, and says where the control was. Text, not markup, so the same rule is safe
inside attribute values (tooltips, ``alt``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from markupsafe import Markup, escape

BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def show_bidi(text: str) -> str:
    """``text`` with each bidi control replaced by its visible name, e.g. ``[U+202E]``."""
    return BIDI_CONTROLS.sub(lambda m: f"[U+{ord(m.group()):04X}]", text)


def finalize(value: object) -> object:
    """What a template prints: text with its bidi controls shown (``show_bidi``); Markup
    (the charts, which went through ``esc``) and non-text values as they are."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return show_bidi(value)
    return value


def esc(value: object) -> str:
    """``value`` as text safe inside an element or a quoted attribute (``None`` is empty),
    its bidi controls shown (``show_bidi``)."""
    return str(escape(show_bidi("" if value is None else str(value))))


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
