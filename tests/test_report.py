"""The HTML report and the overview page, from a seeded database.

The seeded database comes from ``seed_report_app`` (``tests/helpers/report.py``, shared
with test_browser.py): a drop on baidu with failed checks before it and a hostile title
among the vanished images.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import html as lxml_html
from sqlalchemy import select

from monitor.app import build
from monitor.cli.main import cli
from monitor.config import parse_config
from monitor.core.errors import MonitorError
from monitor.store.models import Alert, Image, Thumbnail
from monitor.web.overview_page import overview_html
from tests.helpers.report import (
    EVIL_TITLE,
    T0,
    Seeded,
    config_text,
    person_page,
    report_file,
    seed_report_app,
)


@pytest.fixture
def seeded(tmp_path: Path) -> Seeded:
    return seed_report_app(tmp_path)


@pytest.fixture
def doc(seeded: Seeded, tmp_path: Path) -> lxml_html.HtmlElement:
    out = report_file(seeded.app, ["Chen Yixin"], tmp_path / "report.html")
    return lxml_html.fromstring(out.read_text(encoding="utf-8"))


def chart(doc: lxml_html.HtmlElement, series_id: int) -> lxml_html.HtmlElement:
    [svg] = doc.xpath(f'//svg[@data-series="{series_id}"]')
    return svg


def test_report_has_a_chart_per_series_with_every_check(
    seeded: Seeded, doc: lxml_html.HtmlElement
) -> None:
    for series_id in (seeded.baidu, seeded.bing, seeded.control):
        assert chart(doc, series_id).get("data-checks") == "13"
    labels = [h.text_content() for h in doc.xpath("//div[@class='panel']/h4")]
    assert labels == [
        "Chen Yixin @ baidu dropped",
        "Chen Yixin @ bing —",
        "giant panda @ baidu —",
    ]


def test_failed_checks_are_gaps_and_marks_never_zeros(
    seeded: Seeded, doc: lxml_html.HtmlElement
) -> None:
    svg = chart(doc, seeded.baidu)
    marks = svg.xpath(".//line[@class='fail']")
    assert sorted(int(m.get("data-snapshot")) for m in marks) == sorted(seeded.failed)
    dots = {int(c.get("data-snapshot")): int(c.get("data-count")) for c in svg.xpath(".//circle")}
    assert not set(seeded.failed) & set(dots)  # no point drawn for a failed check
    assert 0 not in dots.values()
    # The line breaks at the failures: checks 0-3, then 6-12.
    lines = svg.xpath(".//polyline[@class='line']")
    assert [len(pl.get("points").split()) for pl in lines] == [4, 7]
    fail_x = {m.get("x1") for m in marks}
    vertices = {pt.split(",")[0] for pl in lines for pt in pl.get("points").split()}
    assert not fail_x & vertices


def test_drop_episode_is_shaded_and_its_alert_marked(
    seeded: Seeded, doc: lxml_html.HtmlElement
) -> None:
    svg = chart(doc, seeded.baidu)
    [span] = svg.xpath(f".//rect[@data-episode='{seeded.episode}']")
    assert "span-drop" in span.get("class") and float(span.get("width")) > 0
    assert "baseline 5" in span.findtext("title")
    [flag] = svg.xpath(f".//g[@data-alert='{seeded.alert}']")
    assert "alert-drop" in flag.get("class")
    assert not chart(doc, seeded.bing).xpath(".//rect[@data-episode]")
    assert f"#{seeded.alert}" in doc.xpath(
        "string(//h3[starts-with(., 'Alerts')]/following::table[1])"
    )


def test_current_state_shows_last_status_count_baseline_and_detector_state(
    seeded: Seeded, doc: lxml_html.HtmlElement
) -> None:
    rows = doc.xpath("//table[@class='state-table'][1]/tbody/tr")
    cells = {r.xpath("string(td[1])"): [c.text_content() for c in r.xpath("td")] for r in rows}
    baidu = cells["baidu"]
    assert baidu[4].startswith("ok") and baidu[5] == "1" and baidu[7] == "5"
    assert baidu[8] == "dropped" and baidu[9] == "2 / 13"
    assert cells["bing"][5] == "2" and cells["bing"][9] == "1 / 13"


def test_vanished_images_have_first_and_last_seen_and_where_still_seen(
    doc: lxml_html.HtmlElement,
) -> None:
    items = doc.xpath("//ul[@class='gallery']/li")
    assert len(items) == 4  # b, c, d and the hostile one; a never left
    by_title = {li.xpath("string(div[@class='title'])"): li.text_content() for li in items}
    b = by_title["Story b"]
    assert "gone from baidu" in b and "still seen on bing" in b
    assert "first seen 2025-03-01 00:00 UTC" in b
    assert "last seen 2025-03-03 06:00 UTC" in b  # check 9, the last one that had it
    assert "not in the latest results of any other source" in by_title["Story c"]
    assert all(li.get("class") == "alerted" for li in items)
    links = doc.xpath("//ul[@class='gallery']//div[@class='title']/a/@href")
    assert "https://news.test/story/b" in links


def test_scraped_script_and_javascript_urls_are_inert(seeded: Seeded, tmp_path: Path) -> None:
    text = report_file(seeded.app, [], tmp_path / "r.html").read_text(encoding="utf-8")
    assert EVIL_TITLE not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    doc = lxml_html.fromstring(text)
    scripts = doc.xpath("//script")
    assert len(scripts) == 1 and scripts[0].get("src") is None  # ours, inline
    for url in doc.xpath("//@href | //@src"):
        assert re.match(r"(https?:|data:|#|\.\./|report/)", url), url
    assert not re.search(r"(href|src)\s*=\s*[\"']?\s*javascript:", text, re.I)
    digest = base64.b64encode(hashlib.sha256(scripts[0].text.encode()).digest()).decode()
    csp = doc.xpath("string(//meta[@http-equiv='Content-Security-Policy']/@content)")
    assert f"script-src 'sha256-{digest}'" in csp and "default-src 'none'" in csp


def test_report_is_self_contained(doc: lxml_html.HtmlElement) -> None:
    assert not doc.xpath("//link[@rel='stylesheet'] | //script[@src] | //iframe | //object")
    assert doc.xpath("//style") and doc.xpath("//svg[@class='chart']")
    assert [i.get("href") for i in doc.xpath("//link")] == ["data:,"]


def test_controls_are_shown_with_the_person(seeded: Seeded, doc: lxml_html.HtmlElement) -> None:
    controls = doc.xpath("//h3[.='Controls']/following-sibling::div[@class='panel']//svg")
    assert [int(s.get("data-series")) for s in controls] == [seeded.control]
    assert "giant panda @ baidu" in doc.text_content()


def test_no_people_named_means_every_watched_person(seeded: Seeded, tmp_path: Path) -> None:
    text = report_file(seeded.app, [], tmp_path / "all.html").read_text(encoding="utf-8")
    sections = lxml_html.fromstring(text).xpath("//section[@class='person']/h2")
    assert [h.text for h in sections] == ["Chen Yixin"]


def test_unknown_person_is_a_clear_error(seeded: Seeded, tmp_path: Path) -> None:
    with pytest.raises(MonitorError, match=r"no person named 'Nobody'.*known: Chen Yixin"):
        report_file(seeded.app, ["Nobody"], tmp_path / "r.html")
    with pytest.raises(MonitorError, match="no person named 'Nobody'"):
        person_page(seeded.app, "Nobody")


def test_empty_database_is_a_clear_error(tmp_path: Path) -> None:
    config = parse_config(config_text(tmp_path / "e.db"), "config.yaml", {})
    app = build(config, channels=[])
    with pytest.raises(MonitorError, match="no checks yet"):
        report_file(app, [], tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()


def test_cli_report_writes_the_file(seeded: Seeded, tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(config_text(tmp_path / "m.db"), encoding="utf-8")
    out = tmp_path / "cli.html"
    result = CliRunner().invoke(cli, ["--config", str(cfg), "report", "Chen Yixin", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "report written to" in result.output and "Chen Yixin" in out.read_text("utf-8")
    bad = CliRunner().invoke(cli, ["--config", str(cfg), "report", "Nobody", "-o", str(out)])
    assert bad.exit_code != 0 and "no person named 'Nobody'" in bad.output
    assert "Traceback" not in bad.output


def test_kept_thumbnail_is_embedded_in_the_report(seeded: Seeded, tmp_path: Path) -> None:
    png = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
    )
    sha = hashlib.sha256(png).hexdigest()
    directory = tmp_path / "m-thumbnails"
    (directory / sha[:2]).mkdir(parents=True)
    (directory / sha[:2] / f"{sha}.png").write_bytes(png)
    with seeded.app.sessions() as session, session.begin():
        image = session.scalars(select(Image).where(Image.image_url.endswith("/c.jpg"))).one()
        session.add(
            Thumbnail(
                image_id=image.id,
                sha256=sha,
                phash="0" * 16,
                path=f"{sha[:2]}/{sha}.png",
                size=len(png),
                content_type="image/png",
                fetched_at=T0,
            )
        )
    text = report_file(seeded.app, [], tmp_path / "r.html").read_text(encoding="utf-8")
    assert f'src="data:image/png;base64,{base64.b64encode(png).decode()}"' in text


def test_overview_links_each_person_and_draws_a_sparkline_per_series(seeded: Seeded) -> None:
    doc = lxml_html.fromstring(
        overview_html(seeded.app.sessions, seeded.app.config, now=seeded.app.clock())
    )
    assert doc.xpath("//table[@class='grid-table']//a/@href") == ["report/Chen%20Yixin"]
    # Above the grid, the open episode and the alert link into the same person's page.
    hrefs = doc.xpath("//a/@href")
    assert len(hrefs) == 3 and all(h.startswith("report/Chen%20Yixin") for h in hrefs)
    [row] = doc.xpath("//table[@class='grid-table']/tbody/tr")
    cells = row.xpath("td")
    assert len(cells) == 2 and all(c.xpath(".//svg[@class='spark']") for c in cells)
    assert "dropped" in cells[0].text_content()
    # bing's failed check is a red tick, not a zero
    assert len(cells[1].xpath(".//line[@class='fail']")) == 1
    assert "control:" not in doc.text_content()


def test_overview_of_an_empty_database_says_so(tmp_path: Path) -> None:
    config = parse_config(config_text(tmp_path / "e.db"), "config.yaml", {})
    app = build(config, channels=[])
    app.migrate()
    assert "No checks recorded yet" in overview_html(app.sessions, app.config, now=app.clock())


def test_report_page_links_back_to_the_overview(seeded: Seeded) -> None:
    doc = lxml_html.fromstring(person_page(seeded.app, "Chen Yixin"))
    assert doc.xpath("//a[starts-with(., '←')]/@href") == ["../"]
    assert doc.xpath(f'//svg[@data-series="{seeded.baidu}"]')


def test_same_photo_under_another_url_is_named_in_the_gallery(
    seeded: Seeded, tmp_path: Path
) -> None:
    with seeded.app.sessions() as session, session.begin():
        images = {i.image_url.rsplit("/", 1)[-1]: i.id for i in session.scalars(select(Image))}
        for name, phash in (("c.jpg", "f0f0f0f0f0f0f0f0"), ("f.jpg", "f0f0f0f0f0f0f0f3")):
            session.add(
                Thumbnail(
                    image_id=images[name],
                    sha256=name * 8,
                    phash=phash,
                    path=f"x/{name}",
                    size=1,
                    content_type="image/jpeg",
                    fetched_at=T0,
                )
            )
    doc = lxml_html.fromstring(
        report_file(seeded.app, [], tmp_path / "r.html").read_text(encoding="utf-8")
    )
    texts = {
        li.xpath("string(div[@class='title'])"): li.text_content()
        for li in doc.xpath("//ul[@class='gallery']/li")
    }
    assert "same photo still on bing under another URL" in texts["Story c"]
    assert "same photo" not in texts["Story d"]


def test_gallery_links_the_archived_copy_of_a_vanished_images_page(
    seeded: Seeded, tmp_path: Path
) -> None:
    archived = "https://web.archive.org/web/20250303060000/https://news.test/story/c"
    with seeded.app.sessions() as session, session.begin():
        alert = session.get(Alert, seeded.alert)
        assert alert is not None
        images = [dict(i) for i in alert.payload["vanished_images"]]
        next(i for i in images if i["image_url"].endswith("/c.jpg"))["archived_page"] = archived
        alert.payload = {**alert.payload, "vanished_images": images}
    doc = lxml_html.fromstring(
        report_file(seeded.app, [], tmp_path / "r.html").read_text(encoding="utf-8")
    )
    [link] = doc.xpath("//ul[@class='gallery']//a[.='archived copy of the page']")
    assert link.get("href") == archived
    assert "Story c" in link.getparent().getparent().text_content()
