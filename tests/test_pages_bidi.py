"""Bidi controls in scraped text (U+202E and the rest) never reach a page raw: each is shown
as visible text (``[U+202E]``) where it was, in the report and on the overview, in element
text and in attribute values (tooltips) alike, and in the hand-written SVG charts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from lxml import html as lxml_html
from sqlalchemy import select

from monitor.store.models import Alert, Snapshot
from monitor.web.markup import esc, show_bidi
from monitor.web.overview_page import overview_html
from monitor.web.templating import environment
from tests.helpers.report import Seeded, report_file, seed_report_app

BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
TITLE = "holiday\u202egpj.exe"  # reads "holidayexe.jpg" when the override is obeyed
REASON = "captcha \u2067page\u2069 served"


@pytest.fixture
def seeded(tmp_path: Path) -> Seeded:
    seeded = seed_report_app(tmp_path)
    with seeded.app.sessions() as session, session.begin():
        alert = session.get(Alert, seeded.alert)
        assert alert is not None
        payload = dict(alert.payload)
        images = [dict(i) for i in payload["vanished_images"]]
        images[0]["title"] = TITLE
        payload["vanished_images"] = images
        payload["reason"] = "5 -> 1 images \u202eover 3 checks"
        alert.payload = payload
        failed = session.get(Snapshot, seeded.failed[0])
        assert failed is not None
        failed.reason = REASON
        # The last check of bing fails with the same reason: the state table prints it.
        last_bing = session.scalars(
            select(Snapshot).where(Snapshot.series_id == seeded.bing).order_by(Snapshot.id.desc())
        ).first()
        assert last_bing is not None
        last_bing.status, last_bing.image_count, last_bing.reason = "blocked", None, REASON
    return seeded


def test_show_bidi_names_every_control_where_it_was() -> None:
    assert show_bidi(TITLE) == "holiday[U+202E]gpj.exe"
    assert show_bidi("a\u200fb\u061cc\u2066d") == "a[U+200F]b[U+061C]c[U+2066]d"
    assert show_bidi("董经纬 plain") == "董经纬 plain"
    assert esc("<b>\u202e") == "&lt;b&gt;[U+202E]"


def test_templates_show_bidi_controls_in_text_and_attributes() -> None:
    out = environment().from_string('<p title="{{ x }}">{{ x }}</p>').render(x=TITLE)
    assert not BIDI.search(out)
    assert out == '<p title="holiday[U+202E]gpj.exe">holiday[U+202E]gpj.exe</p>'


def test_report_carries_no_raw_bidi_control(seeded: Seeded, tmp_path: Path) -> None:
    text = report_file(seeded.app, [], tmp_path / "r.html").read_text(encoding="utf-8")
    assert not BIDI.search(text)
    doc = lxml_html.fromstring(text)
    titles = doc.xpath("//ul[@class='gallery']//div[@class='title']")
    assert "holiday[U+202E]gpj.exe" in [t.text_content() for t in titles]
    assert "5 -> 1 images [U+202E]over 3 checks" in doc.text_content()
    # The failed check's reason, in the chart's tooltip (written by hand, through esc).
    tips = doc.xpath("//svg[@class='chart']//line[@class='fail']/title/text()")
    assert any("captcha [U+2067]page[U+2069] served" in t for t in tips)


def test_overview_carries_no_raw_bidi_control(seeded: Seeded) -> None:
    page = overview_html(seeded.app.sessions, seeded.app.config, now=seeded.app.clock())
    assert not BIDI.search(page)
