"""The report's story ("What happened"), its gallery rules and its charts' time axis, on a
demo-like history written through the daemon's own round commit (``tests/helpers/story.py``):
two names per person, a drop on baidu, a silence of 30 hours, a recovery during which
state-media pictures leave, and Chen Yixin never alerted though images left his results."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from lxml import html as lxml_html
from sqlalchemy import select

from monitor.app import App
from monitor.config import parse_config
from monitor.report.data import MAX_OUTAGES, CheckPoint, person_view
from monitor.store.models import Episode, Image, Person, Series, SeriesImage
from monitor.web.axis import silences, tick_label, time_ticks
from tests.helpers.report import report_file, seed_report_app
from tests.helpers.story import (
    CENSORED,
    CHEN,
    DONG,
    DONG_ZH,
    SILENT,
    START,
    STATE_MEDIA,
    STEP,
    ZH_ONLY,
    dong_photos,
    seed_story,
)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> App:
    return seed_story(tmp_path_factory.mktemp("story"))


@pytest.fixture(scope="module")
def doc(app: App, tmp_path_factory: pytest.TempPathFactory) -> lxml_html.HtmlElement:
    out = report_file(app, [DONG, CHEN], tmp_path_factory.mktemp("out") / "report.html")
    return lxml_html.fromstring(out.read_text(encoding="utf-8"))


def test_a_drop_under_two_names_is_one_line_from_first_low_check_to_recovery(app: App) -> None:
    with app.sessions() as session:
        view = person_view(session, app.config, DONG)
    [line] = view.story
    assert (line.kind, line.source, line.vantage, line.state) == (
        "drop",
        "baidu",
        "default",
        "resolved",
    )
    assert line.start == START + CENSORED.start * STEP  # the first low check
    assert line.confirmed == START + (CENSORED.start + 1) * STEP  # the drop alert
    assert line.end == START + (SILENT.stop + 1) * STEP  # the second check back
    assert [(n.term, n.before, n.after, n.back) for n in line.names] == [
        (DONG, 30.0, 3, 30),
        (DONG_ZH, 31.0, 3, 31),
    ]
    assert [(v.source, v.count) for v in line.visible] == [("bing", 20)]
    assert [a.event for a in line.alerts] == ["drop", "recovered"]
    assert line.closing_alert is not None and line.closing_alert.event == "recovered"


def test_each_line_carries_the_checks_its_alerts_hold_with_their_response_hashes(
    app: App, doc: lxml_html.HtmlElement
) -> None:
    with app.sessions() as session:
        [line] = person_view(session, app.config, DONG).story
    roles = {h.role for h in line.evidence}
    assert roles == {"pre_drop", "confirming", "recovery"}
    censored = hashlib.sha256(" ".join(STATE_MEDIA).encode()).hexdigest()
    confirming = [h for h in line.evidence if h.role == "confirming"]
    assert len(confirming) == 4  # two checks of each name
    assert {h.sha256 for h in confirming} == {censored}
    assert {h.term for h in confirming} == {DONG, DONG_ZH}
    # The page links the line to its alerts and lists the snapshots with their hashes.
    [li] = doc.xpath("//section[@id='p0']//ol[@class='story']/li")
    links = li.xpath(".//a/@href")
    assert {f"#p0-alert-{a.alert_id}" for a in line.alerts} <= set(links)
    assert all(doc.xpath(f"//*[@id='{href[1:]}']") for href in links)
    evidence = li.xpath("string(.//details[@class='evidence'])")
    assert censored in evidence
    assert all(str(h.snapshot_id) in evidence for h in line.evidence)


def test_the_first_story_line_names_the_person_the_source_and_the_start(
    doc: lxml_html.HtmlElement,
) -> None:
    first = doc.xpath("string(//section[@id='p0']//ol[@class='story']/li[1])")
    assert "Dong Jingwei" in first and "baidu" in first
    assert "2021-06-03 12:00 UTC" in first
    assert "Confirmed 2021-06-03 18:00 UTC" in first
    assert "Dong Jingwei: 30 images → 3 images" in first
    assert "董经纬: 31 images → 3 images" in first
    assert "Still visible on bing (20 images)" in first
    assert "Back 2021-06-06 18:00 UTC" in first


def test_the_story_comes_first_then_the_alerts_the_charts_and_the_gallery(
    doc: lxml_html.HtmlElement,
) -> None:
    headings = [h.text_content() for h in doc.xpath("//section[@id='p0']/h3")]
    order = [
        next(i for i, h in enumerate(headings) if h.startswith(word))
        for word in ("What happened", "Alerts", "Image counts", "Vanished images")
    ]
    assert order == sorted(order) and order[0] == 0


def test_gallery_holds_exactly_the_images_the_drop_alert_listed(app: App) -> None:
    with app.sessions() as session:
        [gallery] = person_view(session, app.config, DONG).galleries
    urls = [v.image_url for v in gallery.images]
    assert sorted(urls) == sorted([i.image_url for i in dong_photos()] + [ZH_ONLY])
    assert gallery.total == 31 and gallery.back == 31  # all shown again since the recovery


def test_state_media_pictures_that_left_on_recovery_are_not_vanished(app: App) -> None:
    with app.sessions() as session:
        # They did leave baidu's results when the real photos came back...
        left = session.scalars(
            select(Image.image_url)
            .join(SeriesImage, SeriesImage.image_id == Image.id)
            .where(SeriesImage.seen_open.is_(False), Image.image_url.in_(STATE_MEDIA))
        ).all()
        gallery = person_view(session, app.config, DONG).galleries
    assert set(left) == set(STATE_MEDIA)
    # ...but no alert said they vanished, so the gallery does not list them.
    assert not {v.image_url for g in gallery for v in g.images} & set(STATE_MEDIA)


def test_images_are_filed_under_the_names_that_lost_them(app: App) -> None:
    with app.sessions() as session:
        [gallery] = person_view(session, app.config, DONG).galleries
    terms = {v.image_url: v.terms for v in gallery.images}
    assert terms[ZH_ONLY] == [DONG_ZH]  # not under the alert's headline name
    assert all(sorted(t) == sorted([DONG, DONG_ZH]) for u, t in terms.items() if u != ZH_ONLY)


def test_a_person_never_alerted_has_no_story_and_no_vanished_gallery(
    app: App, doc: lxml_html.HtmlElement
) -> None:
    with app.sessions() as session:
        person = session.scalars(select(Person).where(Person.name == CHEN)).one()
        gone = session.scalars(
            select(SeriesImage.image_id)
            .join(Series, Series.id == SeriesImage.series_id)
            .where(Series.person_id == person.id, SeriesImage.seen_open.is_(False))
        ).all()
        view = person_view(session, app.config, CHEN)
    assert len(gone) >= 6  # images did leave his results
    assert view.story == [] and view.galleries == []
    section = doc.xpath("//section[@id='p1']")[0]
    assert not section.xpath(".//ul[@class='gallery']")
    assert "No alert about Chen Yixin" in section.text_content()


def test_chart_draws_a_silence_of_more_than_two_intervals_as_a_gap(
    app: App, doc: lxml_html.HtmlElement
) -> None:
    with app.sessions() as session:
        series = person_view(session, app.config, DONG).series
    baidu = next(v for v in series if v.source == "baidu" and v.term == DONG)
    [svg] = doc.xpath(f"//svg[@data-series='{baidu.series_id}']")
    assert svg.get("data-silences") == "1"
    [quiet] = svg.xpath(".//rect[@class='silence']")
    assert quiet.findtext("title") == "no check from 2021-06-05 06:00 UTC to 2021-06-06 12:00 UTC"
    left, right = float(quiet.get("x")), float(quiet.get("x")) + float(quiet.get("width"))
    for line in svg.xpath(".//polyline[@class='line']"):
        xs = [float(p.split(",")[0]) for p in line.get("points").split()]
        assert not any(a <= left and b >= right for a, b in pairwise(xs))


def test_chart_has_dated_ticks_and_an_axis_title(doc: lxml_html.HtmlElement) -> None:
    svg = doc.xpath("//svg[@class='chart']")[0]
    ticks = [t.text for t in svg.xpath(".//text[contains(@class, 'tick')]")]
    assert ticks == [f"2021-06-0{d}" for d in range(1, 8)]
    assert svg.xpath("string(.//text[@class='axis-title'])") == "images found"


@pytest.mark.parametrize(
    ("span", "step"),
    [
        (timedelta(days=6, hours=18), timedelta(days=1)),
        (timedelta(hours=3), timedelta(minutes=30)),  # 06:00-08:00 would be only 3
        (timedelta(minutes=50), timedelta(minutes=5)),
        (timedelta(days=400), timedelta(days=91)),
        (timedelta(days=30), timedelta(days=7)),
    ],
)
def test_time_ticks_are_round_and_at_least_four(span: timedelta, step: timedelta) -> None:
    t0 = datetime(2021, 6, 1, 5, 7, tzinfo=UTC)
    ticks, got = time_ticks(t0, t0 + span)
    assert got == step
    assert 4 <= len(ticks) <= 12
    assert all(t0 <= t <= t0 + span for t in ticks)
    assert all(b - a == step for a, b in pairwise(ticks))
    if step >= timedelta(days=1):
        assert all((t.hour, t.minute) == (0, 0) for t in ticks)


def test_tick_labels_are_dates_for_days_and_times_for_hours() -> None:
    t = datetime(2021, 6, 4, 12, 0, tzinfo=UTC)
    assert tick_label(t, timedelta(days=1)) == "2021-06-04"
    assert tick_label(t, timedelta(hours=6)) == "06-04 12:00"
    assert tick_label(t, timedelta(minutes=15)) == "12:00"


def test_silences_are_stretches_longer_than_two_intervals() -> None:
    def at(hours: float) -> CheckPoint:
        return CheckPoint(0, START + timedelta(hours=hours), "ok", 1, None, False)

    points = [at(0), at(6), at(18), at(31), at(37)]
    assert silences(points, timedelta(hours=6)) == [
        (START + timedelta(hours=18), START + timedelta(hours=31))
    ]
    assert silences(points, None) == []


def test_a_drop_episode_no_alert_covers_is_a_line_marked_so_without_a_gallery(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    seeded = seed_report_app(tmp_path_factory.mktemp("unalerted"))
    with seeded.app.sessions() as session, session.begin():
        bing = session.get(Series, seeded.bing)
        assert bing is not None
        opened = datetime(2025, 3, 2, 0, 0, tzinfo=UTC)
        session.add(
            Episode(
                series_id=seeded.bing,
                source_id=bing.source_id,
                kind="drop",
                metric="images",
                state="open",
                opened_at=opened,
                baseline=2.0,
            )
        )
    with seeded.app.sessions() as session:
        view = person_view(session, seeded.app.config, "Chen Yixin")
    bing_line = next(ln for ln in view.story if ln.source == "bing")
    assert not bing_line.alerted and bing_line.state == "open"
    assert [g.line.source for g in view.galleries] == ["baidu"]  # the alerted one only
    out = report_file(seeded.app, [], tmp_path_factory.mktemp("r") / "r.html")
    doc = lxml_html.fromstring(out.read_text(encoding="utf-8"))
    [li] = [li for li in doc.xpath("//ol[@class='story']/li") if "on bing" in li.text_content()]
    assert "No alert was raised for it" in li.text_content()
    assert "2025-03-02 00:00 UTC" in li.text_content()


def test_a_source_no_longer_configured_still_shows_its_silence_as_a_gap(app: App) -> None:
    baidu_only = parse_config(
        "people:\n  - {name: Dong Jingwei, aliases: [董经纬]}\n"
        "sources:\n  baidu: {kind: baidu_images, every: 6h}\n",
        "config.yaml",
        {},
    )
    with app.sessions() as session:
        series = person_view(session, baidu_only, DONG).series
    bing = next(v for v in series if v.source == "bing")
    assert bing.interval == STEP  # the median time between its checks
    assert silences(bing.points, bing.interval) == [
        (START + (SILENT.start - 1) * STEP, START + SILENT.stop * STEP)
    ]


def test_a_story_lists_only_the_latest_outages_of_a_source_that_failed_often(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    seeded = seed_report_app(tmp_path_factory.mktemp("outages"))
    with seeded.app.sessions() as session, session.begin():
        bing = session.get(Series, seeded.bing)
        assert bing is not None
        for day in range(MAX_OUTAGES + 2):
            start = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(days=day)
            session.add(
                Episode(
                    source_id=bing.source_id,
                    kind="unhealthy",
                    state="resolved",
                    opened_at=start,
                    closed_at=start + timedelta(hours=12),
                )
            )
    with seeded.app.sessions() as session:
        view = person_view(session, seeded.app.config, "Chen Yixin")
    outages = [ln for ln in view.story if ln.kind == "unhealthy"]
    assert len(outages) == MAX_OUTAGES and view.outages_not_shown == 2
    assert outages[0].start == datetime(2025, 1, 3, tzinfo=UTC)  # the two oldest left out
    assert any(ln.kind == "drop" for ln in view.story)  # the person's drop is never cut
    out = report_file(seeded.app, [], tmp_path_factory.mktemp("r") / "r.html")
    assert "2 earlier periods when a source could not be read are not listed" in out.read_text(
        encoding="utf-8"
    )
