"""The report of the demo's story (two names per person, a drop on Baidu, a recovery),
written by the demo itself and opened in headless Chromium: it opens with "What happened",
its first line names the person, the source and the start; the alerts come before the
gallery; each chart has at least four dated ticks that do not overlap. And the overview in
the middle of a drop: open episodes, recent alerts and sources above the grid. Screenshots
(PNG) are left in each test's directory."""

from __future__ import annotations

import asyncio
import base64
import io
import json
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from monitor.demo import script
from monitor.demo.run import Demo
from monitor.web.overview_page import overview_html
from tests.helpers.browser import CHROMIUM, Browser, Page
from tests.helpers.story import seed_story

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)"
    ),
]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's own report (the whole demo, in process, without pauses)."""
    keep = tmp_path_factory.mktemp("demo")
    result = asyncio.run(Demo(out=io.StringIO(), pause=0, keep=str(keep)).run())
    assert result.exit_code == 0 and result.report is not None
    return result.report


@pytest.fixture(scope="module")
def page(report: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    assert CHROMIUM is not None
    browser = Browser(CHROMIUM, tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield browser.open(report.resolve().as_uri())
    finally:
        browser.close()


def boxes(page: Page, selector: str) -> list[dict[str, Any]]:
    """Text and page position of every element matching ``selector``."""
    return list(
        page.eval(
            f"Array.from(document.querySelectorAll({json.dumps(selector)})).map(e => {{"
            " const r = e.getBoundingClientRect();"
            " return {text: e.textContent, top: r.top + window.scrollY, left: r.left,"
            " right: r.right, width: r.width, height: r.height}; })"
        )
    )


def test_demo_report_loads_without_any_problem(page: Page, tmp_path: Path) -> None:
    assert page.problems() == []
    shot = page.screenshot(tmp_path / "demo-report.png")
    assert shot.width == 1200 and shot.height > 2000


def test_first_what_happened_line_names_the_person_the_source_and_the_start(
    page: Page,
) -> None:
    [heading] = [b for b in boxes(page, "#p0 h3") if b["text"] == "What happened"][:1]
    first = boxes(page, "#p0 ol.story > li")[0]
    text = " ".join(first["text"].split())
    start = script.START + script.CENSORED.start * script.ROUND
    assert script.WATCHED in text and "baidu" in text
    assert f"{start:%Y-%m-%d %H:%M} UTC" in text
    # The story is on the first screen, right under the person's name.
    assert heading["top"] < first["top"] < 900


def test_alerts_come_before_the_charts_and_the_gallery(page: Page) -> None:
    top = {b["text"].split(" (")[0]: b["top"] for b in boxes(page, "#p0 > h3")}
    assert (
        top["What happened"]
        < top["Alerts"]
        < top["Image counts over time"]
        < top["Vanished images"]
    )
    # The gallery: one collapsible group for the one alerted episode, open, with its count.
    groups = boxes(page, "#p0 details.episode-gallery > summary")
    assert len(groups) == 1 and groups[0]["text"].split()[:3] == ["29", "images", "vanished"]
    assert page.eval("document.querySelector('#p0 details.episode-gallery').open") is True
    # Chen Yixin, never alerted, has no gallery at all.
    assert boxes(page, "#p1 ul.gallery") == []


def test_every_chart_has_at_least_four_dated_ticks_side_by_side(page: Page) -> None:
    charts = page.eval("document.querySelectorAll('svg.chart').length")
    assert charts >= 6
    for i in range(charts):
        ticks = page.eval(
            f"Array.from(document.querySelectorAll('svg.chart')[{i}]"
            ".querySelectorAll('text.tick')).map(e => { const r = e.getBoundingClientRect();"
            " return [e.textContent, r.left, r.right, r.width]; })"
        )
        assert len(ticks) >= 4
        assert all(len(t[0]) == 10 and t[0].startswith("2021-06-") for t in ticks)
        assert all(w > 0 for *_, w in ticks)
        assert all(a[2] <= b[1] for a, b in pairwise(ticks))  # no overlap
    titles = page.eval(
        "Array.from(document.querySelectorAll('svg.chart text.axis-title')).map(e => e.textContent)"
    )
    assert len(titles) == charts and set(titles) == {"images found"}


def test_first_screen_holds_the_story_and_the_alerts(page: Page, tmp_path: Path) -> None:
    alerts = boxes(page, "#p0 table.alerts-table")[0]
    assert alerts["top"] + alerts["height"] < 900  # the whole alerts table, no scrolling
    first = page.browser.call(
        "Page.captureScreenshot",
        {"format": "png", "clip": {"x": 0, "y": 0, "width": 1200, "height": 900, "scale": 1}},
        page.session,
    )
    (tmp_path / "demo-report-first-screen.png").write_bytes(base64.b64decode(first["data"]))


def test_overview_shows_what_needs_attention_above_the_grid(page: Page, tmp_path: Path) -> None:
    app = seed_story(tmp_path, rounds=16, bing_blocked=range(12, 16))
    path = tmp_path / "overview.html"
    path.write_text(overview_html(app.sessions, app.config, now=app.clock()), encoding="utf-8")
    overview = page.browser.open(path.resolve().as_uri())
    assert overview.problems() == []
    top = [(b["text"], b["top"]) for b in boxes(overview, "h2")]
    assert [t for t, _ in top] == [
        "Open episodes (2)",
        "Recent alerts",
        "Sources",
        "All people and sources",
    ]
    assert [y for _, y in top] == sorted(y for _, y in top)
    first = " ".join(boxes(overview, "ul.open-items > li")[0]["text"].split())
    assert first.startswith("dropped Dong Jingwei on baidu since 2021-06-03 12:00 UTC")
    assert boxes(overview, "ul.open-items")[0]["top"] < 900  # on the first screen
    overview.screenshot(tmp_path / "overview-attention.png")
