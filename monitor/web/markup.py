"""HTML building blocks shared by the report and the overview page.

Safety contract: every string that came from an engine or from the configuration goes
through ``esc`` (text and attribute values), and only ``http``/``https`` URLs ever become an
``href`` or ``src`` (``safe_url``): a ``javascript:`` or ``data:`` URL from a scraped page is
shown as text, never followed. ``page`` also pins the inline style and script by their
SHA-256 in a Content-Security-Policy, so markup that slipped through escaping still could
not run a script or load anything but images.

Pages are self-contained: CSS and JS are inlined from ``style.css`` and ``page.js`` beside
this module; nothing is fetched when a page opens except remote thumbnails.
"""

from __future__ import annotations

import base64
import hashlib
import html
from datetime import UTC, datetime
from functools import cache
from importlib import resources

# One URL rule for mail and pages: only absolute http(s) URLs become links or images.
from monitor.core.urls import safe_url as safe_url


def esc(value: object) -> str:
    """``value`` as text safe inside an element or a double-quoted attribute."""
    return html.escape("" if value is None else str(value), quote=True)


def link(url: str | None, text: object, *, cls: str = "") -> str:
    """An external link when ``url`` is safe, else the text alone (plus the URL as text)."""
    href = safe_url(url)
    klass = f' class="{esc(cls)}"' if cls else ""
    if href is None:
        shown = esc(text)
        return f'<span{klass} title="{esc(url)}">{shown}</span>' if url else shown
    return (
        f'<a{klass} href="{esc(href)}" rel="noopener noreferrer nofollow" '
        f'target="_blank">{esc(text)}</a>'
    )


def fmt_time(moment: datetime | None) -> str:
    """``2025-03-01 12:00 UTC`` (minutes are enough for checks hours apart)."""
    if moment is None:
        return "—"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def time_tag(moment: datetime | None) -> str:
    """A ``<time>`` element; the page's script adds the reader's local time as a tooltip."""
    if moment is None:
        return "—"
    iso = moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return f'<time datetime="{iso}">{fmt_time(moment)}</time>'


def fmt_num(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:g}" if value != int(value) else str(int(value))


@cache
def asset(name: str) -> str:
    """A file beside this module (style.css, page.js)."""
    return resources.files("monitor.web").joinpath(name).read_text(encoding="utf-8")


def _digest(text: str) -> str:
    return (
        "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"
    )


def page(title: str, body: str, *, generated: datetime) -> str:
    """A complete HTML document around ``body`` (already escaped markup)."""
    css = asset("style.css")
    js = asset("page.js")
    csp = (
        "default-src 'none'; img-src https: http: data:; "
        f"style-src {_digest(css)}; script-src {_digest(js)}; base-uri 'none'; form-action 'none'"
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{esc(csp)}">\n'
        '<meta name="referrer" content="no-referrer">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<link rel="icon" href="data:,">\n'
        f"<title>{esc(title)}</title>\n"
        f"<style>{css}</style>\n"
        f"</head><body>\n{body}\n"
        f"<footer>Generated {time_tag(generated)} by absence-monitor.</footer>\n"
        f"<script>{js}</script>\n"
        "</body></html>\n"
    )
