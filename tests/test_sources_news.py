"""The configurable news sources: ``html`` (site search pages) and ``feed`` (RSS/Atom).

Golden files cover whole pages; these tests pin the single behaviours: URL templates and
encodings, selector defaults, markers, validation at config load, and feed term matching.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from monitor.check import run_check
from monitor.core.errors import Blocked, ParseError
from monitor.core.observation import PageResult, Status
from monitor.fetch.client import Fetcher
from monitor.sources.base import Source
from monitor.sources.feed import TERM_EXTENSION, mentions, term_pattern
from monitor.sources.markup import marker_selector
from tests.helpers.golden import make_source

SITE: dict[str, Any] = {
    "url": "https://news.example.cn/search?q={query}&p={page}&start={offset}",
    "item": "div.r",
    "no_results": "Nothing found",
}


def page(items: str, extra: str = "", head: str = "") -> bytes:
    return f"<!DOCTYPE html><html><head>{head}</head><body>{extra}{items}</body></html>".encode()


def parse_html(
    source: Source,
    body: bytes,
    *,
    url: str | None = None,
    ctype: str = "text/html",
    term: str = "x",
) -> PageResult:
    request = source.build_request(term, 0)
    if url:
        request = httpx.Request("GET", url)
    response = httpx.Response(200, content=body, headers={"content-type": ctype}, request=request)
    return source.parse(response, 0)


# --- html: requests ---------------------------------------------------------------------


def test_html_url_template_fills_query_page_and_offset() -> None:
    source = make_source("html", **SITE, page_size=20)
    assert str(source.build_request("Dong Jingwei", 2).url) == (
        "https://news.example.cn/search?q=Dong%20Jingwei&p=3&start=40"
    )


def test_html_query_is_encoded_in_the_site_charset() -> None:
    source = make_source("html", **SITE, encoding="gbk")
    assert "q=%B6%AD%BE%AD%CE%B3&" in str(source.build_request("董经纬", 0).url)
    utf8 = make_source("html", **SITE)
    assert "q=%E8%91%A3%E7%BB%8F%E7%BA%AC&" in str(utf8.build_request("董经纬", 0).url)


def test_html_honours_base_url() -> None:
    source = make_source("html", **SITE, base_url="http://127.0.0.1:8090")
    url = source.build_request("x", 0).url
    assert (url.scheme, url.host, url.port, url.path) == ("http", "127.0.0.1", 8090, "/search")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("url", "https://news.example.cn/search", "{query}"),
        ("item", "div..r", "not a valid CSS selector"),
        ("no_results", ["css:div[", "x"], "not a valid CSS selector"),
        ("blocked", "css:", "must not be empty"),
        ("total_regex", "([0-9", "not a valid regular expression"),
        ("encoding", "klingon-8", "unknown encoding"),
    ],
)
def test_html_options_are_checked_at_config_load(field: str, value: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        make_source("html", **{**SITE, field: value})


def test_html_fixed_page_has_no_query_in_its_url() -> None:
    with pytest.raises(ValidationError, match=re.escape("unless fixed_page is true")):
        make_source("html", **SITE, fixed_page=True)
    fixed = make_source("html", url="https://mfa.example.cn/leaders/", item="li", fixed_page=True)
    request = fixed.build_request("秦刚", 0)
    assert str(request.url) == "https://mfa.example.cn/leaders/"
    assert request.extensions[TERM_EXTENSION] == "秦刚"


def test_html_fixed_page_counts_items_naming_the_term_in_text_or_image_alt() -> None:
    fixed = make_source("html", url="https://mfa.example.cn/leaders/", item="li", fixed_page=True)
    body = page(
        '<ul><li><img src="/p/1.jpg" alt="部长 秦刚"></li>'
        '<li><img src="/p/2.jpg"><a href="/b/2">王毅简历</a></li>'
        '<li><img src="/p/3.jpg" title="Qin Gang"></li></ul>'
    )
    assert [i.image_url for i in parse_html(fixed, body, term="秦刚").items] == [
        "https://mfa.example.cn/p/1.jpg"
    ]
    assert [i.image_url for i in parse_html(fixed, body, term="Qin Gang").items] == [
        "https://mfa.example.cn/p/3.jpg"
    ]
    gone = parse_html(fixed, body, term="李肇星")  # listed, none naming him: zero, recognised
    assert gone.no_results and gone.items == ()


def test_html_single_marker_string_becomes_a_list() -> None:
    source = make_source("html", **SITE, blocked="captcha")
    assert source.options.model_dump()["blocked"] == ("captcha",)


def test_html_family_is_configurable_per_site() -> None:
    assert make_source("html", **SITE, family="chinese").family == "chinese"
    assert make_source("html", **SITE).family == "independent"


# --- html: parsing ----------------------------------------------------------------------


def test_html_defaults_take_first_img_first_link_and_link_text() -> None:
    body = page(
        '<div class="r"><img src="/i/1.jpg" alt="alt"><a href="/a/1">One &amp; <b>two</b></a></div>'
    )
    result = parse_html(make_source("html", **SITE), body, url="https://news.example.cn/search?q=x")
    (item,) = result.items
    assert item.image_url == "https://news.example.cn/i/1.jpg"
    assert item.page_url == "https://news.example.cn/a/1"
    assert item.title == "One & two"


def test_html_title_falls_back_to_img_alt_when_link_has_no_text() -> None:
    body = page('<div class="r"><a href="/a"><img src="/i.jpg" alt="A photo"></a></div>')
    (item,) = parse_html(make_source("html", **SITE), body).items
    assert item.title == "A photo"


def test_html_image_attr_option_and_data_src_fallback() -> None:
    body = page(
        '<div class="r"><img data-original="/big.jpg" src="/s.gif"></div>'
        '<div class="r"><img src="data:image/gif;base64,R0l" data-src="/lazy.jpg"></div>'
    )
    custom = parse_html(
        make_source("html", **SITE, image_attr="data-original"), body, url="https://n.example/s"
    )
    assert [i.image_url for i in custom.items] == [
        "https://n.example/big.jpg",
        "https://n.example/lazy.jpg",
    ]


def test_html_results_without_images_are_a_recognised_zero_images_answer() -> None:
    body = page('<div class="r"><a href="/a">text only</a></div>')
    result = parse_html(make_source("html", **SITE), body)
    assert result.items == ()
    assert result.no_results is True


def test_html_block_marker_wins_over_results() -> None:
    body = page(
        '<div class="r"><img src="/i.jpg"></div>', extra="<p>Please verify you are human</p>"
    )
    with pytest.raises(Blocked, match="verify you are human"):
        parse_html(make_source("html", **SITE, blocked=["verify you are human"]), body)


def test_html_hidden_block_template_does_not_block() -> None:
    body = page(
        '<div class="r"><img src="/i.jpg"></div>',
        extra='<div id="cap" style="display: none">captcha</div>',
    )
    source = make_source("html", **SITE, blocked=["captcha", "css:#cap"])
    assert len(parse_html(source, body).items) == 1


@pytest.mark.parametrize(
    ("marker", "selector"),
    [
        (".no-result", ".no-result"),
        ("div#empty", "div#empty"),
        ("[data-empty]", "[data-empty]"),
        ("css:div > p.none", "div > p.none"),
        ("text:.no-result", None),
        ("没有找到", None),
        ("No results found", None),
        ("3.5 million", None),
    ],
)
def test_html_marker_is_a_selector_only_when_it_looks_like_one(
    marker: str, selector: str | None
) -> None:
    assert marker_selector(marker) == selector


def test_html_unprefixed_class_marker_recognises_the_no_results_page() -> None:
    body = page("", extra='<div class="no-result">抱歉</div>')
    source = make_source("html", **{**SITE, "no_results": ".no-result"})
    assert parse_html(source, body).no_results is True


def test_html_text_marker_is_case_insensitive() -> None:
    body = page("", extra="<p>NOTHING   FOUND for your query</p>")
    assert parse_html(make_source("html", **SITE), body).no_results is True


def test_html_page_without_items_or_marker_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match=re.escape('no element matches item "div.r"')):
        parse_html(make_source("html", **SITE), page("", extra="<p>redesigned</p>"))


def test_html_meta_charset_wins_over_the_encoding_option() -> None:
    body = page(
        '<div class="r"><a href="/a"><img src="/i.jpg">董经纬</a></div>',
        head='<meta charset="utf-8">',
    )
    source = make_source("html", **SITE, encoding="gbk")
    assert parse_html(source, body).items[0].title == "董经纬"


def test_html_encoding_option_decodes_pages_that_declare_nothing() -> None:
    body = (
        '<html><body><div class="r"><a href="/a"><img src="/i.jpg">董经纬</a></div></body></html>'
    )
    source = make_source("html", **SITE, encoding="gbk")
    assert parse_html(source, body.encode("gbk")).items[0].title == "董经纬"


def test_html_total_regex_reads_the_page_text_without_a_selector() -> None:
    body = page('<div class="r"><img src="/i.jpg"></div>', extra="<p>About 12,345 results</p>")
    source = make_source("html", **SITE, total_regex=r"About ([\d,]+) results")
    assert parse_html(source, body).reported_total == 12345


def test_html_full_page_on_a_paged_url_has_more_without_next_selector() -> None:
    two = page('<div class="r"><img src="/1.jpg"></div><div class="r"><img src="/2.jpg"></div>')
    assert parse_html(make_source("html", **SITE, page_size=2), two).has_more is True
    assert parse_html(make_source("html", **SITE, page_size=3), two).has_more is False


def test_html_end_marker_can_be_disabled_for_pages_without_closing_tag() -> None:
    body = b'<div class="r"><img src="/i.jpg"></div>'
    with pytest.raises(ParseError, match="truncated"):
        parse_html(make_source("html", **SITE), body)
    assert len(parse_html(make_source("html", **SITE, end_marker=None), body).items) == 1


# --- feed -------------------------------------------------------------------------------

RSS_URL = "https://www.example-daily.com/rss.xml"


def rss(*items: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
        'xmlns:media="http://search.yahoo.com/mrss/"><channel><title>T</title>'
        "<link>https://www.example-daily.com/</link><description>d</description>"
        + "".join(items)
        + "</channel></rss>"
    ).encode()


def parse_feed(body: bytes, term: str, **options: Any) -> PageResult:
    source = make_source("feed", url=options.pop("url", RSS_URL), **options)
    request = source.build_request(term, 0)
    return source.parse(httpx.Response(200, content=body, request=request), 0)


@pytest.mark.parametrize(
    ("term", "text", "expected"),
    [
        ("Dong Jingwei", "Meeting chaired by DONG JINGWEI today", True),
        ("Dong Jingwei", "chaired by Dong\n  Jingwei", True),
        ("Dong Jingwei", "<b>Dong</b> Jingwei spoke", True),
        ("Dong Jingwei", "Ｄｏｎｇ　Ｊｉｎｇｗｅｉ (full-width)", True),
        ("Dong Jingwei", "Dong Jingwei's reform drive", True),
        ("Dong Jingwei", "Dong Jing opened an exhibition", False),
        ("Li", "Lithium prices fell", False),
        ("Li", "Premier Li met delegates", True),
        ("董经纬", "会议由董经纬同志主持", True),
        ("董经纬", "董经理出席", False),
    ],
)
def test_feed_term_matching(term: str, text: str, expected: bool) -> None:
    assert mentions(term, text) is expected


def test_feed_empty_term_is_rejected() -> None:
    with pytest.raises(ValueError, match="empty term"):
        term_pattern("  ")


def test_feed_term_travels_in_extensions_not_on_the_wire() -> None:
    source = make_source("feed", url=RSS_URL)
    request = source.build_request("董经纬", 0)
    assert request.extensions[TERM_EXTENSION] == "董经纬"
    assert str(request.url) == RSS_URL
    assert all("董经纬" not in v for v in request.headers.values())


def test_feed_url_query_placeholder_is_encoded() -> None:
    source = make_source("feed", url="https://news.example.cn/rss?kw={query}")
    assert str(source.build_request("董经纬", 0).url).endswith("kw=%E8%91%A3%E7%BB%8F%E7%BA%AC")


def test_feed_honours_base_url() -> None:
    source = make_source("feed", url=RSS_URL, base_url="http://127.0.0.1:8070")
    url = source.build_request("x", 0).url
    assert (url.host, url.port, url.path) == ("127.0.0.1", 8070, "/rss.xml")


def test_feed_parse_without_term_is_a_parse_error_not_zero() -> None:
    source = make_source("feed", url=RSS_URL)
    response = httpx.Response(200, content=rss(), request=httpx.Request("GET", RSS_URL))
    with pytest.raises(ParseError, match="term"):
        source.parse(response, 0)


def test_feed_with_no_entries_is_no_results() -> None:
    assert parse_feed(rss(), "Dong Jingwei").no_results is True


def test_feed_thumbnail_alone_is_the_entry_image() -> None:
    item = (
        "<item><title>Dong Jingwei</title><link>https://www.example-daily.com/a</link>"
        '<media:thumbnail url="https://img.example-daily.com/t.jpg"/></item>'
    )
    (image,) = parse_feed(rss(item), "Dong Jingwei").items
    assert image.image_url == "https://img.example-daily.com/t.jpg"


def test_feed_matching_entry_with_only_an_audio_enclosure_has_no_image() -> None:
    item = (
        "<item><title>Dong Jingwei podcast</title><link>https://www.example-daily.com/p</link>"
        '<enclosure url="https://cdn.example-daily.com/p.mp3" length="1" type="audio/mpeg"/></item>'
    )
    result = parse_feed(rss(item), "Dong Jingwei")
    assert result.items == ()
    assert result.no_results is True  # recognised: the one mention carries no image


def test_feed_complete_but_not_well_formed_feed_is_still_read() -> None:
    item = (
        "<item><title>Dong Jingwei &nbsp; visits</title><link>https://www.example-daily.com/a</link>"
        '<enclosure url="https://img.example-daily.com/a.jpg" type="image/jpeg" length="1"/></item>'
    )
    assert len(parse_feed(rss(item), "Dong Jingwei").items) == 1


def test_feed_family_is_configurable() -> None:
    assert make_source("feed", url=RSS_URL, family="chinese").family == "chinese"


def test_feed_rejects_non_http_url() -> None:
    with pytest.raises(ValidationError, match="http"):
        make_source("feed", url="file:///etc/passwd")


# --- through the shared fetcher and checker ---------------------------------------------


async def _no_sleep(_: float) -> None:
    return None


async def test_feed_term_survives_the_fetcher_and_a_redirect() -> None:
    moved = "https://feeds.example-daily.com/china.xml"
    item = (
        "<item><title>Dong Jingwei visits</title><link>https://www.example-daily.com/a</link>"
        '<enclosure url="https://img.example-daily.com/a.jpg" type="image/jpeg" length="1"/></item>'
    )

    def handler(request: httpx.Request) -> httpx.Response:
        if str(request.url) == RSS_URL:
            return httpx.Response(301, headers={"location": moved})
        assert str(request.url) == moved
        return httpx.Response(200, content=rss(item), headers={"content-type": "text/xml"})

    source = make_source("feed", url=RSS_URL)
    async with Fetcher(transport=httpx.MockTransport(handler), sleep=_no_sleep) as fetcher:
        observation = await run_check(source, "Dong Jingwei", fetcher)
    assert observation.status is Status.OK, observation.reason
    assert [i.image_url for i in observation.items] == ["https://img.example-daily.com/a.jpg"]


def test_a_feed_nested_past_the_bound_is_refused_before_feedparser_reads_it() -> None:
    # Found by bench.fuzz: 1 MB of unclosed <item> tags held feedparser 7 s.
    with pytest.raises(ParseError, match=r"too complex \(markup nested more than 1000 deep\)"):
        parse_feed(rss("<item>" * 1001), "Dong Jingwei")


def test_a_feed_of_many_items_in_html_summaries_is_not_too_complex() -> None:
    # Unclosed <p> and <br> in 1,500 summaries (CDATA) add no depth: HTML closes them.
    item = (
        "<item><title>Dong Jingwei</title><link>https://www.example-daily.com/a</link>"
        '<description><![CDATA[<p>Dong Jingwei<br><img src="https://img.example/a.jpg">'
        "]]></description></item>"
    )
    assert parse_feed(rss(item * 1500), "Dong Jingwei").items
