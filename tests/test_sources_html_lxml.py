"""The ``html`` source on lxml's tree with cssselect: what BeautifulSoup and soupsieve read
(the golden cases and ``test_sources_news.py`` pin that), plus what they read and a plain
lxml tree would not, and the selector forms that are refused now, each with its reason."""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from monitor.core.errors import ParseError
from monitor.core.observation import PageResult
from monitor.sources.base import Source
from monitor.sources.markup import decoded_markup
from tests.helpers.golden import make_source

SITE: dict[str, Any] = {
    "url": "https://news.example.cn/search?q={query}",
    "item": "div.r",
    "no_results": "Nothing found",
}
ITEM = '<div class="r"><a href="/a/{n}"><img src="/i/{n}.jpg">Story {n}</a></div>'


def page(body: str, head: str = "") -> bytes:
    return f"<!DOCTYPE html><html><head>{head}</head><body>{body}</body></html>".encode()


def parse(source: Source, body: bytes, ctype: str = "text/html") -> PageResult:
    request = source.build_request("x", 0)
    response = httpx.Response(200, content=body, headers={"content-type": ctype}, request=request)
    return source.parse(response, 0)


def images(result: PageResult) -> list[str]:
    return [i.image_url for i in result.items]


def test_items_after_a_stray_html_end_tag_are_read() -> None:
    # lxml puts what follows a stray </html> in a second top-level element, outside the
    # root's descendants; BeautifulSoup's tree held it, so the selectors search the document.
    body = page(ITEM.format(n=1)) + b"\n" + ITEM.format(n=2).encode() + b"</html>"
    result = parse(make_source("html", **SITE), body)
    assert images(result) == ["https://news.example.cn/i/1.jpg", "https://news.example.cn/i/2.jpg"]


def test_items_nested_past_libxml2s_default_depth_limit_are_read() -> None:
    # libxml2 stops building the tree at depth 256 unless told otherwise; the depth guard
    # (1,000) is the bound, as it was for BeautifulSoup.
    body = page("<div>" * 300 + ITEM.format(n=1) + "</div>" * 300)
    assert images(parse(make_source("html", **SITE), body)) == ["https://news.example.cn/i/1.jpg"]


def test_a_gbk_page_with_one_undecodable_byte_keeps_its_items() -> None:
    # With bs4, libxml2 gave up on the whole page at the bad byte: no items, parse_error.
    head = '<meta http-equiv="Content-Type" content="text/html; charset=gbk">'
    body = page(ITEM.format(n=1).replace("Story", "董经纬") + "\x00", head).replace(
        b"\x00", b"\x80\xff"
    )
    body = body.replace("董经纬".encode(), "董经纬".encode("gbk"))
    result = parse(make_source("html", **SITE), body)
    assert [i.title for i in result.items] == ["董经纬 1"]


@pytest.mark.parametrize(
    ("content", "ctype", "text"),
    [
        ("董经纬".encode("gbk"), "text/html", "董经纬"),  # undeclared GBK: GB18030
        ("Dong Jingwei é".encode(), "text/html", "Dong Jingwei é"),  # undeclared UTF-8
        (b"\xef\xbb\xbfDong \xc3\xa9", "text/html", "Dong é"),  # a byte-order mark
        ("café".encode("cp1252"), "text/html", "café"),  # neither: Windows-1252
        (
            '<meta charset="gb2312">董经纬'.encode("gbk"),
            "text/html",
            '<meta charset="gb2312">董经纬',
        ),
    ],
    ids=["gbk", "utf-8", "bom", "cp1252", "gb2312-label-means-gbk"],
)
def test_an_undeclared_or_meta_declared_page_is_decoded_as_browsers_do(
    content: bytes, ctype: str, text: str
) -> None:
    response = httpx.Response(200, content=content, headers={"content-type": ctype})
    assert decoded_markup(response, None) == text


def test_selectors_within_an_item_match_in_the_whole_page() -> None:
    # As soupsieve did (and querySelectorAll does): "div.r a" finds the link of the item
    # div.r itself, and an ancestor outside the item may be named.
    body = page('<main><div class="r"><h3><a href="/p">T</a></h3><img src="/i.jpg"></div></main>')
    source = make_source("html", **SITE, link="div.r a", title="main h3", image="body img")
    (item,) = parse(source, body).items
    assert (item.page_url, item.title) == ("https://news.example.cn/p", "T")


def test_an_item_is_not_its_own_link() -> None:
    body = page('<a class="r" href="/p"><img src="/i.jpg"></a>')
    (item,) = parse(make_source("html", **{**SITE, "item": "a.r"}, link="a"), body).items
    assert item.page_url is None  # "a" inside the item: there is none


def test_ruby_annotations_and_code_are_not_in_a_title() -> None:
    body = page(
        '<div class="r"><img src="/i.jpg">'
        "<a><ruby>董<rt>dǒng</rt></ruby>经纬<script>x=1</script></a></div>"
    )
    (item,) = parse(make_source("html", **SITE), body).items
    assert item.title == "董经纬"


def test_text_after_a_hidden_element_still_counts_for_a_marker() -> None:
    body = page("<p>Nothing <span hidden>at all</span>found</p>")
    assert parse(make_source("html", **SITE), body).no_results is True


def test_a_hidden_item_container_is_still_an_item_but_never_a_marker() -> None:
    body = page(ITEM.format(n=1) + '<div class="empty" style="display:none">Nothing found</div>')
    source = make_source("html", **SITE, blocked=["css:div.empty"])
    assert len(parse(source, body).items) == 1


@pytest.mark.parametrize(
    "selector",
    [
        'a:contains("Next")',
        "li:has(> img)",
        'img[src$=".JPG" i]',
        "ul > li:nth-child(2n+1)",
        ":is(h2, h3) a",
    ],
)
def test_css_forms_lxml_reads_are_accepted(selector: str) -> None:
    make_source("html", **SITE, link=selector)


@pytest.mark.parametrize(
    ("selector", "reason"),
    [
        (':-soup-contains("x")', ":-soup-contains is not supported (use :contains())"),
        (":scope > a", ":scope is not supported (name the element instead)"),
        ("li:nth-child(2 of .x)", "Invalid character '.' position 18"),
        ("a:not(.x, .y)", "Invalid character ',' position 8"),
        ("svg|a", "Undefined namespace prefix"),
        ("*:last-of-type", "*:last-of-type is not implemented"),
        ("a::before", "Pseudo-elements are not supported"),
        ("div[", "it ends at position 4 where ident or '*' was expected"),
    ],
)
def test_a_selector_lxml_cannot_read_is_refused_in_one_line_naming_it(
    selector: str, reason: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        make_source("html", **SITE, title=selector)
    message = caught.value.errors()[0]["msg"]
    assert f'"{selector}" is not a valid CSS selector' in message
    assert reason in message and "\n" not in message


def test_a_page_of_stray_html_end_tags_is_judged_without_a_depth_count() -> None:
    # The fuzzer's hang (bench.fuzz html, seed 2026): 2 MB of "</html>\nbody>", 5.4-7.5 CPU s
    # in bs4. It has no start tags to nest, so no element matches and no marker is there.
    body = b"<html><body>" + b"</html>\nbody>" * 146_000
    with pytest.raises(ParseError, match=re.escape('no element matches item "div.r"')):
        parse(make_source("html", **SITE), body)


def test_the_html_bing_and_feed_sources_do_not_import_beautifulsoup() -> None:
    code = (
        "import sys, monitor.sources.feed, monitor.sources.webpage, monitor.sources.bing;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('bs4', 'soupsieve')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_a_control_character_after_a_hidden_element_is_no_exception() -> None:
    # Found by bench.fuzz (seed 2026): libxml2 keeps an ESC in the text, and lxml refused to
    # set it back after the hidden element was taken out (ValueError, not a parse result).
    body = page("<p>Nothing <span hidden>at all</span>\x1bfound</p>")
    assert parse(make_source("html", **SITE), body).no_results is True
