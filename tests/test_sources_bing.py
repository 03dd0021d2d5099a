"""Bing image source beyond the golden files: requests, paging, markers and broken anchors."""

from __future__ import annotations

import html
import json
from typing import Any

import httpx
import pytest

from monitor.check import run_check
from monitor.config import parse_config
from monitor.core.errors import Blocked, ConfigError, ParseError
from monitor.core.observation import PageResult, Status
from monitor.fetch.policy import FetchPolicy
from monitor.sources import load
from tests.helpers.fetch import FakeTime, make_fetcher
from tests.helpers.golden import make_source


def respond(request: httpx.Request, body: str, status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(status, headers=headers, content=body.encode("utf-8"), request=request)


def anchor(murl: str, **fields: str) -> str:
    m = html.escape(json.dumps({"murl": murl, **fields}, ensure_ascii=False), quote=True)
    return f'<li><a class="iusc" m="{m}" href="#"></a></li>'


def page(*anchors: str, next_url: str | None = None) -> str:
    attr = f' data-nextUrl="{next_url}"' if next_url is not None else ""
    return (
        f'<div class="dg_b"><div id="mmComponent_images_1" class="dgControl"{attr}>'
        f'<ul class="dgControl_list">{"".join(anchors)}</ul></div></div>'
    )


def test_async_request_pages_with_one_based_first_and_count() -> None:
    request = make_source("bing_images", count=20).build_request("dong jingwei", 2)
    assert (request.url.host, request.url.path) == ("www.bing.com", "/images/async")
    params = request.url.params
    assert (params["q"], params["first"], params["count"]) == ("dong jingwei", "41", "20")


def test_async_request_sends_the_results_page_as_referer_and_options_headers() -> None:
    source = make_source("bing_images", user_agent="UA/2", accept_language="en-US")
    headers = source.build_request("x y", 0).headers
    assert headers["referer"] == "https://www.bing.com/images/search?q=x+y&form=HDRSC2"
    assert (headers["user-agent"], headers["accept-language"]) == ("UA/2", "en-US")


def test_search_endpoint_requests_the_full_page() -> None:
    request = make_source("bing_images", endpoint="search").build_request("x", 0)
    assert request.url.path == "/images/search"
    assert request.url.params["first"] == "1"
    assert request.headers["accept"].startswith("text/html")


@pytest.mark.parametrize("endpoint", ["async", "search"])
@pytest.mark.parametrize("base_url", [None, "HTTP://Example.COM:80/prefix/", "http://[::1]:9000"])
def test_request_urls_are_those_httpx_builds_from_the_params(
    endpoint: str, base_url: str | None
) -> None:
    """The query is encoded by hand (one URL parse a request): hostile terms included, the
    URL and the Referer are exactly what httpx builds from a params dict."""
    options: dict[str, Any] = {"endpoint": endpoint}
    if base_url:
        options["base_url"] = base_url
    source = make_source("bing_images", **options)
    for term in ["a&b=c#d?e", "100% ~+/", "董靖玮 😀", "[x]{y}|^`\\\"'", "  ", ""]:
        request = source.build_request(term, 1)
        sent = dict(request.url.params)
        assert sent["q"] == term
        built = httpx.Request("GET", request.url.copy_with(query=None), params=sent)
        assert request.url == built.url and str(request.url) == str(built.url)
        if endpoint == "async":
            page = httpx.URL(request.headers["referer"])
            expected = page.copy_with(query=None).copy_merge_params({"q": term, "form": "HDRSC2"})
            assert request.headers["referer"] == str(expected)


def test_base_url_replaces_scheme_and_host() -> None:
    source = make_source("bing_images", base_url="http://127.0.0.1:8081")
    request = source.build_request("x", 0)
    assert str(request.url).startswith("http://127.0.0.1:8081/images/async?")
    assert request.headers["referer"].startswith("http://127.0.0.1:8081/images/search?")


def test_title_loses_bing_hit_markers_and_tags() -> None:
    source = make_source("bing_images")
    body = page(anchor("https://a/1.jpg", t="用wps画\ue000折线图\ue001 <b>x</b>"), next_url="")
    result = source.parse(respond(source.build_request("x", 0), body), 0)
    assert result.items[0].title == "用wps画折线图 x"


def test_has_more_follows_data_next_url() -> None:
    source = make_source("bing_images")
    request = source.build_request("x", 0)
    with_next = source.parse(respond(request, page(anchor("https://a/1"), next_url="/n")), 0)
    without = source.parse(respond(request, page(anchor("https://a/1"), next_url="")), 0)
    assert (with_next.has_more, without.has_more) == (True, False)


def test_localized_no_results_marker_from_options_is_recognised() -> None:
    source = make_source("bing_images", no_results_markers=["没有与此相关的结果"])
    body = "<html><body><h1>没有与此相关的结果: xyz</h1></body></html>"
    result = source.parse(respond(source.build_request("xyz", 0), body), 0)
    assert result.no_results is True


def test_no_results_message_after_the_first_page_only_ends_paging() -> None:
    source = make_source("bing_images")
    body = "<html><body><h1>There are no results for <strong>x</strong></h1></body></html>"
    result = source.parse(respond(source.build_request("x", 1), body), 1)
    assert (result.items, result.no_results, result.has_more) == ((), False, False)


def test_anchor_with_broken_m_fails_the_page() -> None:
    source = make_source("bing_images")
    broken = '<li><a class="iusc" m="{&quot;murl&quot;:&quot;https://a/2" href="#"></a></li>'
    body = page(anchor("https://a/1"), broken, next_url="")
    with pytest.raises(ParseError, match="#2"):
        source.parse(respond(source.build_request("x", 0), body), 0)


def test_anchor_without_murl_fails_the_page() -> None:
    source = make_source("bing_images")
    body = page('<li><a class="iusc" m="{&quot;t&quot;:&quot;x&quot;}"></a></li>', next_url="")
    with pytest.raises(ParseError, match="murl"):
        source.parse(respond(source.build_request("x", 0), body), 0)


def test_redirect_to_a_challenge_is_blocked() -> None:
    source = make_source("bing_images")
    request = httpx.Request("GET", "https://www.bing.com/challenge/verify?ret=1")
    with pytest.raises(Blocked, match="challenge"):
        source.parse(respond(request, "<html></html>"), 0)


def test_bing_is_registered_in_the_bing_family() -> None:
    cls = load("bing_images")
    assert (cls.kind, cls.family) == ("bing_images", "bing")


# --- market, cn.bing.com and paging (issue 11) ------------------------------------------------


def test_request_names_the_default_market_in_params_and_accept_language() -> None:
    request = make_source("bing_images").build_request("x", 0)
    assert (request.url.params["mkt"], request.url.params["setlang"]) == ("en-US", "en-us")
    assert request.headers["accept-language"] == "en-US,en;q=0.9"


def test_cn_bing_source_sends_the_chinese_market_and_ui_language() -> None:
    source = make_source("bing_images", base_url="https://cn.bing.com")
    request = source.build_request("董经纬", 0)
    assert (request.url.host, request.url.path) == ("cn.bing.com", "/images/async")
    assert (request.url.params["mkt"], request.url.params["setlang"]) == ("zh-CN", "zh-hans")
    assert request.headers["accept-language"] == "zh-CN,zh;q=0.9"


def test_configured_market_is_normalised_and_sent_on_the_search_endpoint_too() -> None:
    source = make_source("bing_images", endpoint="search", market="de-de", setlang="DE")
    request = source.build_request("x", 0)
    assert (request.url.params["mkt"], request.url.params["setlang"]) == ("de-DE", "de")
    assert request.headers["accept-language"] == "de-DE,de;q=0.9"
    assert source.options.accept_language == "de-DE,de;q=0.9"  # the fetcher's default too


def test_an_explicit_accept_language_wins_over_the_market() -> None:
    source = make_source("bing_images", market="en-GB", accept_language="fr-FR")
    request = source.build_request("x", 0)
    assert (request.url.params["mkt"], request.headers["accept-language"]) == ("en-GB", "fr-FR")


def test_a_market_that_is_not_language_country_is_a_one_line_config_error() -> None:
    text = "people:\n  - name: X\nsources:\n  bing:\n    kind: bing_images\n    market: english\n"
    with pytest.raises(ConfigError) as err:
        parse_config(text, "config.yaml", {})
    assert str(err.value) == (
        'config.yaml:6: sources.bing.market: "english" is not a market '
        "(use language-COUNTRY, e.g. en-US, zh-CN)"
    )


def test_chinese_no_results_sentence_is_recognised_by_default() -> None:
    source = make_source("bing_images", base_url="https://cn.bing.com")
    body = "<html><body><h1>没有与此相关的结果: xyz</h1></body></html>"
    assert source.parse(respond(source.build_request("xyz", 0), body), 0).no_results is True


async def test_check_pages_on_a_full_page_with_empty_next_url_up_to_max_pages() -> None:
    firsts: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        first = request.url.params["first"]
        firsts.append(first)
        full = [anchor(f"https://a/{first}/{n}.jpg") for n in range(3)]
        return httpx.Response(200, text=page(*full, next_url=""))

    source = make_source("bing_images", count=3, max_pages=3)
    async with make_fetcher(handler, FakeTime()) as fetcher:
        obs = await run_check(source, "x", fetcher, policy=FetchPolicy(interval=0.0, retries=0))
    assert (obs.status, obs.pages, firsts, obs.image_count) == (Status.OK, 3, ["1", "4", "7"], 9)


async def test_check_stops_after_a_short_page_with_empty_next_url() -> None:
    firsts: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        firsts.append(request.url.params["first"])
        return httpx.Response(200, text=page(anchor("https://a/1.jpg"), next_url=""))

    source = make_source("bing_images", count=3, max_pages=3)
    async with make_fetcher(handler, FakeTime()) as fetcher:
        obs = await run_check(source, "x", fetcher, policy=FetchPolicy(interval=0.0, retries=0))
    assert (obs.status, obs.pages, firsts) == (Status.OK, 1, ["1"])


# The lxml reading of Bing pages: what counts as an anchor, as text, and as no page at all.
def parse_page(body: str, **options: Any) -> PageResult:
    source = make_source("bing_images", **options)
    request = source.build_request("dong jingwei", 0)
    return source.parse(httpx.Response(200, content=body.encode("utf-8"), request=request), 0)


def test_no_results_sentence_inside_a_script_or_comment_is_not_the_signal() -> None:
    body = (
        "<html><body><script>var t = 'There are no results for';</script>"
        "<!-- There are no results for --><div>something else</div></body></html>"
    )
    with pytest.raises(ParseError, match=r"no a\.iusc"):
        parse_page(body)


def test_a_body_with_no_element_is_a_parse_error_not_a_crash() -> None:
    with pytest.raises(ParseError, match=r"no a\.iusc"):
        parse_page("<!-- only a comment -->")


def test_anchor_class_among_others_and_first_next_url_decides() -> None:
    one = anchor("https://img.example/a.jpg").replace('class="iusc"', 'class="x  iusc\ty"')
    body = page(one, next_url="") + '<div class="dgControl" data-nextUrl="/next"></div>'
    result = parse_page(body, count=35)
    assert [i.image_url for i in result.items] == ["https://img.example/a.jpg"]
    assert result.has_more is False


@pytest.mark.parametrize(
    "markup",
    [
        # The fuzzer's hang (bench.fuzz, seed 2026): a page repeated after its own </html>,
        # which libxml2 cuts into thousands of text nodes that .text/.tail do not show.
        "<html><head><title>t</title></head><body><h1>没有 <b>x</b></h1><p>y</p></body></html>\n片"
        * 300,
        "<div>a<script>var s = 'no';</script>b<!-- c -->d<style>p {}</style><template>e</template>"
        "<p>f</p>g</div>tail",
        "</html>\nbody>" * 200,
    ],
    ids=["repeated-after-html-end", "code-and-comments", "stray-html-ends"],
)
def test_visible_text_reads_the_words_beautifulsoup_read(markup: str) -> None:
    from bs4 import BeautifulSoup

    from monitor.sources.tree import html_tree, visible_text

    # The same words in the same order; blank text between elements libxml2 may leave out.
    read = visible_text(html_tree(markup)).split()
    assert read == BeautifulSoup(markup, "lxml").get_text(" ").split()
