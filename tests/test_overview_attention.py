"""The overview answers "what needs my attention": open episodes first (a person's names
down on one source are one item), then the recent alerts with their dates, then each
source's health (last check, last success, failing since), then the grid. On the demo-like
history of ``tests/helpers/story.py``, cut in the middle of the drop, with bing answering a
captcha for the last rounds."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import html as lxml_html

from monitor.app import App
from monitor.report.attention import attention
from monitor.web.overview_page import overview_html
from tests.helpers.story import CENSORED, DONG, DONG_ZH, START, STEP, seed_story

CUT = 16  # rounds played: Dong Jingwei is down on baidu since round 10
BLOCKED = range(12, CUT)  # bing: a captcha in every check for four rounds


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> App:
    return seed_story(tmp_path_factory.mktemp("ov"), rounds=CUT, bing_blocked=BLOCKED)


@pytest.fixture(scope="module")
def doc(app: App) -> lxml_html.HtmlElement:
    return lxml_html.fromstring(overview_html(app.sessions, app.config, now=app.clock()))


def test_open_episodes_list_a_person_down_once_with_each_names_figures(app: App) -> None:
    with app.sessions() as session:
        needs = attention(session)
    people = [i for i in needs.open if i.person is not None]
    [item] = people
    assert (item.person, item.source, item.kind, item.state) == (DONG, "baidu", "drop", "open")
    assert item.since == START + CENSORED.start * STEP
    assert [(n.term, n.baseline, n.latest) for n in item.names] == [
        (DONG, 30.0, 3),
        (DONG_ZH, 31.0, 3),
    ]
    drop = next(r.mark.alert_id for r in needs.alerts if r.mark.event == "drop")
    assert item.alert_ids == [drop]


def test_a_source_unhealthy_is_an_open_item_of_its_own(app: App) -> None:
    with app.sessions() as session:
        needs = attention(session)
    [bing] = [i for i in needs.open if i.person is None]
    assert (bing.source, bing.kind, bing.names) == ("bing", "unhealthy", [])
    assert needs.open[0].person == DONG  # people first
    unhealthy = next(r for r in needs.alerts if r.mark.event == "source_unhealthy")
    assert bing.alert_ids == [unhealthy.mark.alert_id] and unhealthy.person is None


def test_source_health_says_last_success_and_failing_since(app: App) -> None:
    with app.sessions() as session:
        sources = {s.source: s for s in attention(session).sources}
    last = START + (CUT - 1) * STEP
    bing, baidu = sources["bing"], sources["baidu"]
    assert (bing.last_check, bing.last_status, bing.last_reason) == (
        last,
        "blocked",
        "captcha page",
    )
    assert bing.last_success == START + (BLOCKED.start - 1) * STEP
    assert bing.failing_since == START + BLOCKED.start * STEP and bing.failing
    assert (baidu.last_success, baidu.failing_since, baidu.failing) == (last, None, False)


def test_recent_alerts_are_newest_first_with_dates(app: App) -> None:
    with app.sessions() as session:
        alerts = attention(session).alerts
    assert [r.mark.event for r in alerts] == ["source_unhealthy", "drop"]
    assert [r.mark.t for r in alerts] == sorted((r.mark.t for r in alerts), reverse=True)


def test_page_puts_open_episodes_first_then_alerts_sources_and_the_grid(
    doc: lxml_html.HtmlElement,
) -> None:
    headings = [h.text_content() for h in doc.xpath("//h2")]
    assert headings == ["Open episodes (2)", "Recent alerts", "Sources", "All people and sources"]
    first = " ".join(doc.xpath("string(//ul[@class='open-items']/li[1])").split())
    assert first.startswith(f"dropped {DONG} on baidu since 2021-06-03 12:00 UTC")
    assert "Dong Jingwei 3 images vs baseline 30 images; 董经纬 3 images" in first
    assert doc.xpath("//ul[@class='open-items']/li[1]/a/@href") == [
        "report/Dong%20Jingwei#p0-story"
    ]
    links = doc.xpath("//table[@class='recent-alerts']//a/@href")
    assert links == ["report/Dong%20Jingwei#p0-alert-1"]
    assert "2021-06-03 18:00 UTC" in doc.xpath("string(//table[@class='recent-alerts'])")
    [failing] = doc.xpath("//table[@class='source-health']//tr[@class='failing']")
    cells = [" ".join(c.text_content().split()) for c in failing.xpath("td")]
    assert cells == [
        "bing",
        "2021-06-04 18:00 UTC",
        "blocked captcha page",
        "2021-06-03 18:00 UTC",
        "2021-06-04 00:00 UTC",
    ]


def test_nothing_open_says_so(tmp_path: Path) -> None:
    app = seed_story(tmp_path)  # the whole story: the drop is over
    page = lxml_html.fromstring(overview_html(app.sessions, app.config, now=app.clock()))
    assert page.xpath("string(//h2[1])") == "Open episodes (0)"
    assert "Nothing open" in page.text_content()
    events = [
        r.xpath("string(td[3])") for r in page.xpath("//table[@class='recent-alerts']/tbody/tr")
    ]
    assert events == ["recovered", "drop"]
