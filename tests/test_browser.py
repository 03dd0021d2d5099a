"""The overview page and a report, opened in headless Chromium (Debian's ``chromium``).

Chromium is driven over the DevTools protocol on a pipe (``tests/helpers/browser.py``: no
port, no extra package). Each page must load without a console error, a script exception
or a blocked resource (a CSP violation is one), and its charts must be drawn: the chart
element has a non-zero size and the screenshot has the line's colour in it. Pages are
served from 127.0.0.1, thumbnails included, so nothing leaves the machine.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import numpy as np
import pytest
from PIL import Image as PILImage

from monitor.testing import LocalServer, Reply, Request
from monitor.web.document import write_report
from monitor.web.overview_page import overview_html
from monitor.web.report_page import report_html
from tests.helpers.browser import CHROMIUM, Browser, Page
from tests.helpers.report import keep_thumbnail, seed_report_app

LINE_BLUE = (37, 99, 235)  # --line in style.css

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)"
    ),
]


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    assert CHROMIUM is not None
    b = Browser(CHROMIUM, tmp_path_factory.mktemp("chromium-profile"))
    yield b
    b.close()


def thumbnail_png() -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", (64, 48), (200, 120, 40)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[LocalServer, Any]]:
    """The daemon's two pages and the thumbnails, served on 127.0.0.1."""
    state: dict[str, Any] = {}
    png = thumbnail_png()

    def handler(req: Request) -> Reply:
        app = state["seeded"].app
        if req.path == "/":
            return Reply(200, overview_html(app.sessions, app.config, now=app.clock()))
        if req.path.startswith("/report/"):
            person = unquote(req.path[len("/report/") :])
            page = report_html(
                app.sessions, app.config, person, thumbnail_dir=app.thumbnail_dir, now=app.clock()
            )
            return Reply(200, page)
        if req.path.startswith("/thumb/"):
            state["thumb_requests"] += 1
            return Reply(200, png, "image/png")
        return Reply(404, "not found", "text/plain")

    with LocalServer(handler) as server:
        state["thumb_requests"] = 0
        seeded = seed_report_app(tmp_path, thumb_base=server.url)
        for name in "bcd":  # kept copies: the page embeds them and fetches no thumbnail
            keep_thumbnail(seeded.app, f"/{name}.jpg", png)
        state["seeded"] = seeded
        yield server, state


def blue_pixels(image: PILImage.Image) -> int:
    """Pixels of the chart line's colour (anti-aliasing allowed for)."""
    pixels = np.asarray(image, dtype=np.int16)
    close = np.abs(pixels - np.array(LINE_BLUE, dtype=np.int16)) < 30
    return int(close.all(axis=2).sum())


def chart_sizes(page: Page, selector: str) -> list[list[float]]:
    return list(
        page.eval(
            f"Array.from(document.querySelectorAll({json.dumps(selector)}))"
            ".map(e => {const r = e.getBoundingClientRect(); return [r.width, r.height];})"
        )
    )


def test_overview_page_loads_cleanly_and_draws_sparklines(
    browser: Browser, site: tuple[LocalServer, Any], tmp_path: Path
) -> None:
    server, _ = site
    page = browser.open(server.url + "/")
    assert page.problems() == []
    sizes = chart_sizes(page, "svg.spark")
    assert len(sizes) == 2 and all(w > 0 and h > 0 for w, h in sizes)
    shot = page.screenshot(tmp_path / "overview.png")
    assert blue_pixels(shot) > 20


def test_report_page_reached_from_the_overview_loads_cleanly_with_its_charts(
    browser: Browser, site: tuple[LocalServer, Any], tmp_path: Path
) -> None:
    server, state = site
    overview = browser.open(server.url + "/")
    href = overview.eval("document.querySelector('.grid-table a[href^=\"report/\"]').href")
    assert href == server.url + "/report/Chen%20Yixin"
    page = browser.open(href)
    assert page.problems() == []
    sizes = chart_sizes(page, "svg.chart")
    assert len(sizes) == 3 and all(w > 300 and h > 50 for w, h in sizes)
    # The gallery's kept thumbnails (embedded) really decode, and the engine's copies
    # (served by the local site) were never requested.
    loaded = page.eval(
        "Promise.all(Array.from(document.querySelectorAll('.gallery img')).map(i => {"
        " i.loading = 'eager'; return i.decode().then(() => i.naturalWidth, () => 0); }))"
    )
    assert loaded == [64, 64, 64]
    assert state["thumb_requests"] == 0
    shot = page.screenshot(tmp_path / "report.png")
    assert shot.height > 900 and blue_pixels(shot) > 200


def test_written_report_file_opens_offline_without_errors(
    browser: Browser, site: tuple[LocalServer, Any], tmp_path: Path
) -> None:
    _, state = site
    seeded = state["seeded"]
    path = write_report(
        seeded.app.sessions,
        seeded.app.config,
        [],
        tmp_path / "report.html",
        thumbnail_dir=seeded.app.thumbnail_dir,
        now=seeded.app.clock(),
    )
    page = browser.open(path.resolve().as_uri())
    assert page.problems() == []
    assert page.eval("document.querySelectorAll('script:not([src])').length") == 1
    assert not page.eval("window.__xss === undefined ? false : true")
    width, height = chart_sizes(page, "svg.chart")[0]
    assert width > 300 and height > 50
    # The hostile title is text on the page, not markup.
    assert "<script>alert(1)</script>" in page.eval("document.body.innerText")
    page.screenshot(tmp_path / "report-file.png")
