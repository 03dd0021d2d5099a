"""Reports and the overview gain a vantage dimension: with several vantages in the
database every series is labelled with its vantage (grid cells, chart panels), each source's
health is per vantage (an engine may fail from one network only), and alerts show their
vantage and ``vantage_scope``; with one vantage the pages stay as they were."""

from __future__ import annotations

from pathlib import Path

from lxml import html as lxml_html

from monitor.store.overview_reads import source_health
from monitor.web.overview_page import overview_html
from monitor.web.report_page import report_html
from tests.helpers.vantages import Vantage, both, two_vantages, two_vantages_on


def text_of(page: str, css: str) -> list[str]:
    return [" ".join(e.text_content().split()) for e in lxml_html.fromstring(page).cssselect(css)]


def test_the_overview_labels_each_vantage_and_its_alerts(tmp_path: Path, db_url: str) -> None:
    with two_vantages_on(db_url, tmp_path) as (cn, de):  # SQLite and PostgreSQL
        for n in range(10, 13):
            de.round(n, both(40))
            cn.round(n, both(3))
        page = overview_html(cn.app.sessions, cn.app.config, now=cn.app.clock())
        assert "1 person on 1 source from 2 vantages (cn-beijing, de)" in page
        cell = " ".join(text_of(page, "table.grid-table td.cell"))
        assert "Dong Jingwei (cn-beijing): 3" in cell and "Dong Jingwei (de): 40" in cell
        assert text_of(page, "table.source-health td:first-child") == [
            "baidu (cn-beijing)",
            "baidu (de)",
        ]
        [alert] = text_of(page, "table.recent-alerts tbody tr")
        assert "drop (vantage specific)" in alert and "baidu (cn-beijing)" in alert


def test_source_health_is_per_vantage(tmp_path: Path, db_url: str) -> None:
    with two_vantages_on(db_url, tmp_path) as (cn, de):  # SQLite and PostgreSQL
        for n in range(10, 12):
            de.round(n, {"Dong Jingwei": None, "董经纬": None})  # blocked from de only
            cn.round(n, both(30))
        with cn.app.sessions() as session:
            rows = {r.vantage: r for r in source_health(session)}
        assert rows["de"].failing and rows["de"].failing_since is not None
        assert not rows["cn-beijing"].failing and rows["cn-beijing"].failing_since is None


def test_the_person_report_names_the_vantage_of_each_chart_and_alert(tmp_path: Path) -> None:
    cn, de = two_vantages(tmp_path)
    for n in range(10, 13):
        de.round(n, both(40))
        cn.round(n, both(3))
    page = report_html(
        cn.app.sessions, cn.app.config, "Dong Jingwei", thumbnail_dir=None, now=cn.app.clock()
    )
    panels = text_of(page, ".panel h4")
    assert any(p.startswith("董经纬 (cn-beijing) @ baidu") for p in panels)
    assert any(p.startswith("董经纬 (de) @ baidu") for p in panels)
    [row] = text_of(page, "table.alerts-table tbody tr")
    assert "drop (vantage specific)" in row and "baidu (cn-beijing)" in row


def test_one_vantage_pages_carry_no_vantage_labels(tmp_path: Path) -> None:
    only = Vantage(tmp_path, None)
    for n in range(13):
        only.round(n, both(30 if n < 10 else 3))
    page = overview_html(only.app.sessions, only.app.config, now=only.app.clock())
    assert "vantages (" not in page
    assert "(default)" not in " ".join(text_of(page, "table.grid-table td.cell"))
    assert text_of(page, "table.source-health td:first-child") == ["baidu"]
    report = report_html(
        only.app.sessions, only.app.config, "Dong Jingwei", thumbnail_dir=None, now=only.app.clock()
    )
    assert any(p.startswith("董经纬 @ baidu") for p in text_of(report, ".panel h4"))
