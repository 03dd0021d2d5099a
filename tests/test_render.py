"""Rendering: subjects say who, where and how much; scraped text is inert in both bodies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import pytest

from monitor.alerts import render
from monitor.alerts.payload import Message, build_payload, vanished_image
from monitor.alerts.schema import (
    AlertPayload,
    CheckInfo,
    ControlCheck,
    EpisodeInfo,
    OtherSource,
    PeerTerm,
    TermEvent,
    TermFigures,
)
from monitor.core import urls
from monitor.core.clock import iso_utc
from monitor.core.observation import ImageItem

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def image(n: int = 1, **kw: Any) -> ImageItem:
    fields: dict[str, Any] = {
        "image_url": f"https://img.example.cn/{n}.jpg",
        "thumb_url": f"https://t.example.cn/{n}.jpg",
        "page_url": f"https://news.example.cn/{n}.html",
        "title": f"page {n}",
    }
    fields.update(kw)
    return ImageItem(**fields)


def drop(person: str = "董经纬", **kw: Any) -> AlertPayload:
    fields: dict[str, Any] = {
        "event": "drop",
        "alert_id": 7,
        "checked_at": NOW,
        "person": person,
        "term": person,
        "source": "baidu_images",
        "vantage": "cn-bj",
        "observed": 12,
        "baseline": 400,
        "baseline_window_days": 14,
        "metric": "images",
        "classification": "single_source",
        "reason": "12 images vs 14-day median 400 on 2 consecutive checks",
        "episode": EpisodeInfo(id=3, started_at=iso_utc(NOW), state="open"),
        "confirming_checks": [
            CheckInfo(checked_at=iso_utc(NOW - timedelta(minutes=45)), status="ok", observed=14),
            CheckInfo(checked_at=iso_utc(NOW), status="ok", observed=12),
        ],
        "vanished_images": [
            vanished_image(image(1), NOW - timedelta(days=30), NOW - timedelta(days=1), ["bing"]),
        ],
        "other_sources": [
            OtherSource(
                source="bing_images",
                family="bing",
                state="normal",
                terms=[
                    PeerTerm(
                        term=person,
                        status="ok",
                        observed=380,
                        baseline=400.0,
                        state="normal",
                        vantage="cn-bj",
                    )
                ],
            )
        ],
        "controls": [ControlCheck(term="北京", status="ok", observed=510, baseline=520.0)],
    }
    fields.update(kw)
    return build_payload(**fields)


def message(*alerts: AlertPayload) -> Message:
    return Message(delivery_id="dlv-1", alerts=list(alerts) or [drop()], channel="email")


class Tags(HTMLParser):
    """Collects the real elements and attributes a browser would build."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags_of(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Tags()
    parser.feed(html)
    return parser.tags


def urls_in(html: str) -> list[str]:
    return [v or "" for _, attrs in tags_of(html) for k, v in attrs.items() if k in ("href", "src")]


def test_subject_of_a_drop_says_who_where_and_how_much() -> None:
    expected = "[absence] 董经纬 on baidu_images: 12 images, −97% vs 14-day median"
    assert render.subject(message()) == expected


def test_subject_of_a_corroborated_drop_says_so() -> None:
    subject = render.subject(message(drop(classification="corroborated")))
    assert subject.endswith("vs 14-day median (corroborated)")


def test_subject_of_a_domain_drop_counts_domains() -> None:
    subject = render.subject(message(drop(metric="domains", observed=1, baseline=25)))
    assert subject == "[absence] 董经纬 on baidu_images: 1 domain, −96% vs 14-day median"


def test_subject_of_a_group_names_the_first_people_and_the_count() -> None:
    group = message(drop("董经纬"), drop("陈一新"), drop("王小明"))
    assert render.subject(group) == "[absence] 3 drops on baidu_images: 董经纬, 陈一新, …"


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        (
            {"event": "partial", "observed": 200},
            "[absence] 董经纬 on baidu_images partly back: "
            "200 images, 50% of the 400 before the drop",
        ),
        (
            {"event": "recovered", "observed": 380},
            "[absence] 董经纬 on baidu_images recovered: "
            "380 images, 95% of the 400 before the drop",
        ),
        (
            {"event": "source_incident", "people_involved": ["a", "b", "c"]},
            "[absence] incident on baidu_images: 3 people dropped at once "
            "(engine or scraper, not counted as drops)",
        ),
        (
            {"event": "source_unhealthy", "reason": "blocked for 26 hours (captcha)"},
            "[absence] baidu_images is failing: blocked for 26 hours (captcha)",
        ),
        ({"event": "source_recovered"}, "[absence] baidu_images works again"),
        (
            {"event": "stale", "reason": "no valid check for 3 days"},
            "[absence] stale: 董经纬 on baidu_images: no valid check for 3 days",
        ),
        ({"event": "test"}, "[absence] test alert from image-absence-monitor"),
    ],
    ids=lambda v: v["event"] if isinstance(v, dict) else "",
)
def test_subject_of_each_event(kw: dict[str, Any], expected: str) -> None:
    assert render.subject(message(drop(**kw))) == expected


def test_subject_cannot_carry_a_header_line_from_a_name() -> None:
    subject = render.subject(message(drop("evil\r\nBcc: x@example.com")))
    assert "\r" not in subject and "\n" not in subject
    assert "evil Bcc: x@example.com" in subject


def test_html_escapes_a_script_title() -> None:
    hostile = image(1, title="<script>alert('x')</script>", page_url="https://e.cn/p?a=1&b=2")
    body = render.html_body(message(drop(vanished_images=[vanished_image(hostile, NOW, NOW)])))
    assert "<script>" not in body
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in body
    assert "script" not in [tag for tag, _ in tags_of(body)]
    assert "https://e.cn/p?a=1&b=2" in urls_in(body)  # the &amp; decodes back to the real URL


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "data:image/png;base64,iVBORw0KGgo",
        'https://e.cn/x"onmouseover="alert(1)',
        "/relative/page.html",
    ],
)
def test_html_never_links_or_loads_a_non_http_url(url: str) -> None:
    hostile = image(1, page_url=url, thumb_url=url, image_url=url, title="t")
    body = render.html_body(message(drop(vanished_images=[vanished_image(hostile, NOW, NOW)])))
    assert urls_in(body) == []
    assert all("onmouseover" not in attrs for _, attrs in tags_of(body))


def test_html_links_the_page_but_loads_no_remote_image() -> None:
    body = render.html_body(message())
    assert ("a", {"href": "https://news.example.cn/1.html"}) in tags_of(body)
    assert [t for t, _ in tags_of(body) if t == "img"] == []
    assert "https://t.example.cn/1.jpg" not in urls_in(body)


def test_html_shows_a_kept_thumbnail_by_content_id() -> None:
    url = drop()["vanished_images"][0]["image_url"]
    body = render.html_body(message(), cids={url: "thumb.1@demo.invalid"})
    imgs = [attrs for t, attrs in tags_of(body) if t == "img"]
    assert [a["src"] for a in imgs] == ["cid:thumb.1@demo.invalid"]


def test_safe_url_upgrades_protocol_relative_urls() -> None:
    assert urls.safe_url("//img.example.cn/a.jpg") == "https://img.example.cn/a.jpg"


def test_text_body_lists_images_checks_sources_and_controls() -> None:
    text = render.text_body(message())
    assert "page 1 <https://news.example.cn/1.html>" in text
    assert "first seen 2024-04-01 12:00 UTC, last seen 2024-04-30 12:00 UTC" in text
    assert "still seen on: bing" in text
    assert "- 2024-05-01 11:15 UTC: ok, 14 images" in text
    assert (
        "baidu_images returned 12 images for 董经纬 against a baseline of 400 "
        "(14-day median): −97%." in text
    )
    assert "- bing_images (bing), normal: “董经纬” ok, 380 vs baseline 400" in text
    assert "- “北京”: ok, 510 vs baseline 520" in text
    assert "Why: 12 images vs 14-day median 400 on 2 consecutive checks" in text


def test_text_body_removes_terminal_escapes_and_bidi_overrides() -> None:
    hostile = image(1, title="\x1b[31mred\x1b[0m \u202egnp.exe")
    text = render.text_body(message(drop(vanished_images=[vanished_image(hostile, NOW, NOW)])))
    assert "\x1b" not in text and "\u202e" not in text
    assert "[31mred [0m gnp.exe" in text


def test_bodies_show_at_most_max_images_and_say_how_many_more() -> None:
    many = [vanished_image(image(n), NOW, NOW) for n in range(render.MAX_IMAGES + 5)]
    msg = message(drop(vanished_images=many))
    text, html = render.text_body(msg), render.html_body(msg)
    assert f"Vanished images ({render.MAX_IMAGES + 5})" in text
    assert '… and 5 more in the report (absence-monitor report "董经纬")' in text
    assert text.count("first seen") == render.MAX_IMAGES
    assert html.count("first seen") == render.MAX_IMAGES


def test_group_bodies_contain_every_alert() -> None:
    group = message(drop("董经纬"), drop("陈一新"), drop("王小明"))
    text, html = render.text_body(group), render.html_body(group)
    for n, name in enumerate(["董经纬", "陈一新", "王小明"], start=1):
        assert f"{n}/3. {name} on baidu_images" in text
        assert f"<h2>{name} on baidu_images" in html


def test_incident_body_lists_the_people_involved() -> None:
    incident = drop(event="source_incident", people_involved=["董经纬", "<b>x</b>"])
    text, html = render.text_body(message(incident)), render.html_body(message(incident))
    assert "People involved" in text and "- 董经纬" in text
    assert "<li>&lt;b&gt;x&lt;/b&gt;</li>" in html


def test_subject_shortens_a_long_reason_with_an_ellipsis() -> None:
    subject = render.subject(message(drop(event="source_unhealthy", reason="x " * 100)))
    reason = subject.removeprefix("[absence] baidu_images is failing: ")
    assert reason.endswith("x…") and len(reason) == 80


def figures(term: str, observed: int, event: TermEvent | None = "drop") -> TermFigures:
    return TermFigures(
        term=term,
        event=event,
        state="dropped" if event else "normal",
        status="ok",
        observed=observed,
        baseline=30.0,
        ratio=round(observed / 30, 4),
        reason="",
        episode_id=None,
        confirming_checks=[],
        checked_at="2024-01-10T06:00:00Z",
        this_round=True,
    )


def test_subject_of_a_person_names_their_aliases_and_the_headline_figures() -> None:
    alert = drop(
        "Dong Jingwei",
        term="董经纬",
        source="baidu",
        observed=3,
        baseline=30,
        terms=[figures("董经纬", 3), figures("Dong Jingwei", 4)],
    )
    assert (
        render.subject(message(alert))
        == "[absence] Dong Jingwei (董经纬) on baidu: 3 images, −90% vs 14-day median"
    )


def test_text_body_gives_every_terms_figures_and_names_the_report_url() -> None:
    many = [vanished_image(image(n), NOW, NOW) for n in range(render.MAX_IMAGES + 2)]
    alert = drop(
        "Dong Jingwei",
        term="董经纬",
        terms=[figures("董经纬", 3), figures("Dong Jingwei", 29, event=None)],
        vanished_images=many,
    )
    text = render.text_body(message(alert), report="https://news.example/report.html")
    assert "- “董经纬”: 3 images vs baseline 30 (−90%), drop" in text
    assert "- “Dong Jingwei”: 29 images vs baseline 30 (−3%), normal" in text
    assert "… and 2 more in the report <https://news.example/report.html>" in text


def test_subject_of_a_group_of_recoveries_says_recoveries() -> None:
    subject = render.subject(message(drop("A", event="recovered"), drop("B", event="recovered")))
    assert subject == "[absence] 2 recoveries on baidu_images: A, B"


def test_an_archived_page_is_linked_in_both_bodies_and_only_when_http() -> None:
    copy = "https://web.archive.org/web/20240401120000/https://news.example.cn/1.html"
    img = vanished_image(
        image(1), NOW - timedelta(days=30), NOW - timedelta(days=1), archived_page=copy
    )
    msg = message(drop(vanished_images=[img]))
    assert f"archived page <{copy}>" in render.text_body(msg)
    assert ("a", {"href": copy}) in tags_of(render.html_body(msg))
    evil = vanished_image(image(1), NOW, NOW, archived_page="javascript:alert(1)")
    assert "javascript:" not in render.html_body(message(drop(vanished_images=[evil])))
