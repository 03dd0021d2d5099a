"""Bing image source beyond the golden files: requests, paging, markers and broken anchors."""

from __future__ import annotations

import html
import json

import httpx
import pytest

from monitor.core.errors import Blocked, ParseError
from monitor.sources import load
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
