"""The HTML report and the overview page, from a seeded database.

``seed_report_app`` (also used by test_browser.py) builds a database through the real store:
Chen Yixin on baidu and bing plus a baidu control; baidu has two failed checks, then a drop
(five images down to one) with an open episode and an alert whose vanished images include
one with a hostile title and ``javascript:`` URLs.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import html as lxml_html
from sqlalchemy import select

from monitor.app import App, build
from monitor.cli.main import cli
from monitor.config import parse_config
from monitor.core.errors import MonitorError
from monitor.core.observation import ImageItem, Observation, Status
from monitor.detector.state import Check, SeriesState
from monitor.detector.state import DropEpisode as StateEpisode
from monitor.store import catalog
from monitor.store.models import Episode, Image, Series, Thumbnail
from monitor.store.outbox import enqueue
from monitor.store.snapshots import record_snapshot
from monitor.web.document import write_report
from monitor.web.overview_page import overview_html
from monitor.web.report_page import report_html

T0 = datetime(2025, 3, 1, 0, 0, tzinfo=UTC)
STEP = timedelta(hours=6)
EVIL_TITLE = "<script>alert(1)</script>"


@dataclass
class Seeded:
    app: App
    baidu: int  # series ids
    bing: int
    control: int
    failed: list[int]  # snapshot ids of baidu's failed checks
    episode: int
    alert: int


def config_text(db: Path) -> str:
    return f"""\
database:
  url: sqlite:///{db}
people:
  - name: Chen Yixin
    notes: "watched since <2025>"
sources:
  baidu:
    kind: baidu_images
    controls: [giant panda]
  bing:
    kind: bing_images
"""


def seed_report_app(tmp_path: Path, thumb_base: str = "https://img.test") -> Seeded:
    """The seeded database described in the module docstring."""
    config = parse_config(config_text(tmp_path / "m.db"), "config.yaml", {})
    app = build(config, channels=[], clock=lambda: T0 + 20 * STEP)
    app.migrate()

    def img(n: str, title: str | None = None, page: str | None = None) -> ImageItem:
        return ImageItem(
            f"https://img.test/full/{n}.jpg",
            f"{thumb_base}/thumb/{n}.png",
            page or f"https://news.test/story/{n}",
            title or f"Story {n}",
        )

    evil = ImageItem(
        "javascript:alert(2)", "javascript:alert(3)", "javascript:alert(4)", EVIL_TITLE
    )
    before = [img("a"), img("b"), img("c"), img("d"), evil]
    after = [img("a")]
    pandas = [img(f"panda{i}") for i in range(8)]
    with app.sessions() as session, session.begin():
        refs = {(r.source, r.role): r.series_id for r in catalog.sync(session, config)}
        baidu, bing = refs[("baidu", "watch")], refs[("bing", "watch")]
        control = refs[("baidu", "control")]
        failed = []

        def snap(series: int, i: int, obs: Observation) -> int:
            t = T0 + i * STEP
            s = record_snapshot(
                session, series_id=series, observation=obs, started_at=t, finished_at=t
            )
            return s.id

        for i in range(13):
            if i == 4:
                failed.append(snap(baidu, i, Observation(Status.BLOCKED, reason="captcha page")))
            elif i == 5:
                failed.append(snap(baidu, i, Observation(Status.NETWORK_ERROR, reason="timeout")))
            else:
                snap(baidu, i, Observation(Status.OK, items=before if i < 10 else after))
            bing_obs = (
                Observation(Status.HTTP_ERROR, reason="HTTP 502", http_status=502)
                if i == 7
                else Observation(Status.OK, items=[img("b"), img("f")])
            )
            snap(bing, i, bing_obs)
            snap(control, i, Observation(Status.OK, items=pandas))
        drop_t = T0 + 10 * STEP
        baidu_row = session.scalars(select(Series).where(Series.id == baidu)).one()
        episode = Episode(
            series_id=baidu,
            source_id=baidu_row.source_id,
            kind="drop",
            metric="images",
            state="open",
            opened_at=drop_t,
            baseline=5.0,
        )
        session.add(episode)
        session.flush()
        vanished = [
            {
                "image_url": i.image_url,
                "thumb_url": i.thumb_url,
                "page_url": i.page_url,
                "title": i.title,
                "domain": i.domain,
                "first_seen": "2025-03-01T00:00:00Z",
                "last_seen": "2025-03-03T06:00:00Z",
                "still_seen_on": ["bing"] if i.image_url.endswith("/b.jpg") else [],
            }
            for i in before[1:]
        ]
        alert = enqueue(
            session,
            payload={
                "event": "drop",
                "person": "Chen Yixin",
                "term": "Chen Yixin",
                "source": "baidu",
                "reason": "5 -> 1 images over 3 checks",
                "vanished_images": vanished,
            },
            channels=[],
            now=T0 + 12 * STEP,
            person_id=baidu_row.person_id,
            source_id=baidu_row.source_id,
            series_id=baidu,
            episode_id=episode.id,
        )
        baidu_row.detector_state = dropped_state(app, drop_t)
    return Seeded(app, baidu, bing, control, failed, episode.id, alert.id)


def dropped_state(app: App, drop_t: datetime) -> dict[str, object]:
    """A detector state with an open drop episode on a baseline of 5."""
    state = SeriesState.new(app.config.detection_for("baidu"))
    for i in range(4):
        state.add_valid(Check((T0 + i * STEP).timestamp(), "ok", 5, 4, None))
    state.sufficient = True
    state.last_valid_t = drop_t.timestamp()
    state.episode = StateEpisode("images", 5.0, 7, drop_t.timestamp())
    return state.to_dict()


def report_file(app: App, people: list[str], output: Path) -> Path:
    """What ``absence-monitor report`` does: migrate, then write the report from the app's parts."""
    app.migrate()
    return write_report(
        app.sessions, app.config, people, output, thumbnail_dir=app.thumbnail_dir, now=app.clock()
    )


def person_page(app: App, person: str) -> str:
    """What the daemon serves at ``/report/<person>``."""
    return report_html(
        app.sessions, app.config, person, thumbnail_dir=app.thumbnail_dir, now=app.clock()
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
    assert doc.xpath("//a/@href") == ["report/Chen%20Yixin"]
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
