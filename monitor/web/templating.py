"""The Jinja2 environment of the pages, and the document around every page.

Safety contract (the pages' only rules; the templates in ``templates/`` follow them):

- Autoescape is on for every template: whatever a template prints is escaped (as text and
  in attribute values) unless it is ``markupsafe.Markup``. Three things are Markup: the SVG
  charts of ``chart.py`` (which escape each text they hold), and this package's own
  ``style.css`` and ``page.js``, inlined as they are (escaping would break them).
- A URL that came from the data (an engine's result or an alert) becomes an ``href`` or a
  ``src`` only through the ``safe_url`` filter (``monitor.core.urls.safe_url``: absolute
  http(s) only); anything else, ``javascript:`` or ``data:`` included, is shown as text.
  The other links are made by this package: ``#p<n>`` anchors, the ``../`` back link,
  ``report/<name>`` with the name quoted to one path segment (``path_segment``), and the
  ``data:`` URIs of kept thumbnails (base64 of a file, its type from a fixed table).
- Bidi controls in printed text are shown as ``[U+202E]``-style text, never raw
  (``markup.show_bidi``, applied to every printed value by the environment's ``finalize``).
- Every page pins its inline style and script by their SHA-256 in a Content-Security-Policy,
  so markup that slipped through escaping still could not run a script or load anything. Its
  ``img-src`` is ``data:`` only unless the page was rendered with ``remote_images`` (``report
  --remote-images``): by default opening a page fetches nothing (``images.py``).
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from monitor.core.clock import iso_utc
from monitor.core.urls import domain_of, safe_url
from monitor.web.chart import series_chart, sparkline_svg
from monitor.web.images import img_src_policy
from monitor.web.markup import finalize, fmt_num, fmt_time


def path_segment(text: str) -> str:
    """``text`` quoted to one relative path segment (``/`` and ``:`` included)."""
    return quote(text, safe="")


@cache
def environment() -> Environment:
    """The pages' environment (built once): autoescape on, undefined names are errors."""
    env = Environment(
        loader=PackageLoader("monitor.web"),
        autoescape=True,
        undefined=StrictUndefined,  # a misspelt field fails the test, not the reader
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=finalize,  # bidi controls of scraped text shown, never raw (markup.py)
    )
    env.filters.update(
        when=fmt_time,
        iso=iso_utc,
        num=fmt_num,
        safe_url=safe_url,
        domain_of=domain_of,
        path_segment=path_segment,
    )
    env.globals.update(series_chart=series_chart, sparkline=sparkline_svg)
    return env


@cache
def asset(name: str) -> str:
    """A file beside this module (style.css, page.js)."""
    return resources.files("monitor.web").joinpath(name).read_text(encoding="utf-8")


def _digest(text: str) -> str:
    return (
        "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"
    )


def render_page(
    template: str,
    *,
    title: str,
    generated: datetime,
    remote_images: bool = False,
    **context: Any,
) -> str:
    """A complete HTML document: ``template`` (which extends ``base.html``) with ``context``;
    ``remote_images`` lets the engines' thumbnails load (the reader opted in)."""
    css, js = asset("style.css"), asset("page.js")
    csp = (
        f"default-src 'none'; {img_src_policy(remote_images)}; "
        f"style-src {_digest(css)}; script-src {_digest(js)}; base-uri 'none'; form-action 'none'"
    )
    return (
        environment()
        .get_template(template)
        .render(
            title=title,
            generated=generated,
            csp=csp,
            # Our own files, hashed above exactly as they are inlined (the only Markup here).
            css=Markup(css),  # noqa: S704
            js=Markup(js),  # noqa: S704
            **context,
        )
    )
