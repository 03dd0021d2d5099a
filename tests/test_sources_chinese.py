"""Baidu, 360 and Sogou sources beyond the golden files: decoding, requests, edge cases."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import httpx
import pytest

from monitor.core.errors import Blocked, ParseError
from monitor.sources import load
from monitor.sources.baidu import decode_objurl
from monitor.sources.parsing import parse_int, response_text, strip_tags
from monitor.sources.sogou import unwrap_redirect
from tests.helpers.golden import make_source

FIXTURES = Path(__file__).parent / "fixtures" / "sources"


def respond(
    request: httpx.Request, body: bytes | str, status: int = 200, **headers: str
) -> httpx.Response:
    content = body.encode("utf-8") if isinstance(body, str) else body
    return httpx.Response(status, headers=headers, content=content, request=request)


# --- Baidu objURL ---------------------------------------------------------------------------


def test_decode_objurl_matches_published_test_vector() -> None:
    # YXL76/BaiduImagesDownload tests/test_Crawler.py::test_decode_objurl
    obfuscated = (
        "ippr_z2C$qAzdH3FAzdH3Fckalbbjclcddc_z&e3Bv1g_z&e3Bf5i7vf_z&e3Bv54AzdH3Ft4w2jfAzdH3F"
        "dadaac89AzdH3F8dbw8dbajvdc9knvbb091m0blbdnu910_z&e3B3rj2"
    )
    assert decode_objurl(obfuscated) == (
        "http://5b0988e595225.cdn.sohucs.com/images/20200514/128a1280ec254b3c8874d6789823f4d7.jpeg"
    )


def test_decode_objurl_agrees_with_clear_fromurl_in_real_acjson_answer() -> None:
    data = json.loads((FIXTURES / "baidu_images" / "acjson-results.json").read_text("utf-8"))
    item = data["data"][0]
    assert decode_objurl(item["fromURL"]) == item["replaceUrl"][0]["FromURL"]


def test_decode_objurl_returns_clear_url_unchanged() -> None:
    assert decode_objurl("http://img.cwq.com/201611/581c95c35ca62.png") == (
        "http://img.cwq.com/201611/581c95c35ca62.png"
    )


def test_decode_objurl_rejects_what_does_not_decode_to_a_url() -> None:
    assert decode_objurl("") is None
    assert decode_objurl("not-a-url") is None
    assert decode_objurl("ippr_garbage") is None


# --- Baidu requests -------------------------------------------------------------------------


def test_baidu_acjson_request_pages_by_rn() -> None:
    source = make_source("baidu_images", rn=20)
    request = source.build_request("董 静", 2)
    params = request.url.params
    assert request.url.host == "image.baidu.com"
    assert request.url.path == "/search/acjson"
    assert params["tn"] == "resultjson_com"
    assert params["word"] == params["queryWord"] == "董 静"
    assert (params["pn"], params["rn"], params["gsm"]) == ("40", "20", "28")
    assert params["ie"] == params["oe"] == "utf-8"


def test_baidu_html_request_reads_the_flip_page() -> None:
    request = make_source("baidu_images", endpoint="html").build_request("python", 1)
    assert request.url.path == "/search/flip"
    assert request.url.params["pn"] == "30"
    assert request.headers["accept"].startswith("text/html")


def test_baidu_request_sends_browser_headers_from_options() -> None:
    source = make_source("baidu_images", user_agent="UA/1", accept_language="zh-CN")
    headers = source.build_request("x", 0).headers
    assert headers["user-agent"] == "UA/1"
    assert headers["accept-language"] == "zh-CN"
    assert headers["accept"] == "text/plain, */*; q=0.01"
    assert headers["x-requested-with"] == "XMLHttpRequest"
    assert headers["referer"].startswith("https://image.baidu.com/search/index?")


def test_baidu_user_headers_override_defaults() -> None:
    source = make_source("baidu_images", headers={"Accept": "*/*", "Cookie": "BAIDUID=1"})
    headers = source.build_request("x", 0).headers
    assert headers["accept"] == "*/*"
    assert headers["cookie"] == "BAIDUID=1"


def test_baidu_base_url_replaces_scheme_and_host_everywhere() -> None:
    source = make_source("baidu_images", base_url="http://127.0.0.1:8080/mirror")
    request = source.build_request("x", 0)
    assert str(request.url).startswith("http://127.0.0.1:8080/mirror/search/acjson?")
    assert request.headers["referer"].startswith("http://127.0.0.1:8080/mirror/search/index?")
    warmup = source.warmup_request()
    assert warmup is not None
    assert str(warmup.url) == "http://127.0.0.1:8080/mirror/"


def test_baidu_warmup_requests_the_home_page() -> None:
    warmup = make_source("baidu_images").warmup_request()
    assert warmup is not None
    assert (warmup.method, str(warmup.url)) == ("GET", "https://image.baidu.com/")


# --- Baidu parsing edge cases -----------------------------------------------------------------


def _acjson(*items: Mapping[str, object], display: int = 10, listed: int = 10) -> str:
    body = {"listNum": listed, "displayNum": display, "data": [*items, {}]}
    return json.dumps(body, ensure_ascii=False)


def test_baidu_parse_accepts_invalid_single_quote_escape() -> None:
    source = make_source("baidu_images")
    body = _acjson({"thumbURL": "https://t/1.jpg", "fromPageTitle": "Tom__Q__s <strong>x</strong>"})
    body = body.replace("__Q__", "\\'")
    result = source.parse(respond(source.build_request("x", 0), body), 0)
    assert [i.title for i in result.items] == ["Tom's x"]


def test_baidu_parse_blocks_on_unfollowed_redirect_to_wappass() -> None:
    source = make_source("baidu_images")
    response = respond(
        source.build_request("x", 0),
        "",
        302,
        location="https://wappass.baidu.com/static/captcha/tuxing.html?ak=1",
    )
    with pytest.raises(Blocked, match="wappass"):
        source.parse(response, 0)


def test_baidu_empty_page_after_the_first_ends_paging_without_claiming_no_results() -> None:
    source = make_source("baidu_images")
    result = source.parse(respond(source.build_request("x", 3), _acjson(display=500)), 3)
    assert (result.items, result.no_results, result.has_more) == ((), False, False)


def test_baidu_last_page_has_no_more() -> None:
    source = make_source("baidu_images", rn=2)
    items = [{"thumbURL": f"https://t/{n}.jpg"} for n in range(2)]
    result = source.parse(respond(source.build_request("x", 1), _acjson(*items, listed=4)), 1)
    assert len(result.items) == 2
    assert result.has_more is False


def test_baidu_item_without_objurl_falls_back_to_replaceurl() -> None:
    source = make_source("baidu_images")
    item = {"thumbURL": "https://t/1.jpg", "replaceUrl": [{"ObjURL": "https://o/1.jpg"}]}
    result = source.parse(respond(source.build_request("x", 0), _acjson(item)), 0)
    assert result.items[0].image_url == "https://o/1.jpg"


def test_baidu_gbk_body_without_charset_decodes() -> None:
    source = make_source("baidu_images")
    body = _acjson({"thumbURL": "https://t/1.jpg", "fromPageTitle": "折线图"}).encode("gbk")
    result = source.parse(respond(source.build_request("x", 0), body), 0)
    assert result.items[0].title == "折线图"


def test_baidu_non_object_answer_is_a_parse_error() -> None:
    source = make_source("baidu_images")
    with pytest.raises(ParseError, match="not a JSON object"):
        source.parse(respond(source.build_request("x", 0), "[1, 2]"), 0)


# --- 360 --------------------------------------------------------------------------------------


def test_so_first_request_asks_from_zero_by_pn_and_honours_base_url() -> None:
    source = make_source("so_images", pn=30, base_url="http://127.0.0.1:9000")
    request = source.build_request("北京", 0)
    assert str(request.url).startswith("http://127.0.0.1:9000/j?")
    params = request.url.params
    assert (params["q"], params["sn"], params["pn"]) == ("北京", "0", "30")
    assert request.headers["referer"].startswith("http://127.0.0.1:9000/i?")
    assert request.headers["x-requested-with"] == "XMLHttpRequest"


def test_so_last_page_says_no_more() -> None:
    source = make_source("so_images")
    body = {"total": 61, "end": True, "list": [{"img": "http://a/1.jpg", "link": "http://a/"}]}
    result = source.parse(respond(source.build_request("x", 1), json.dumps(body)), 1)
    assert (len(result.items), result.has_more) == (1, False)


def test_so_empty_list_with_positive_total_is_a_parse_error() -> None:
    source = make_source("so_images")
    body = json.dumps({"total": 1500, "end": True, "list": []})
    with pytest.raises(ParseError, match="total=1500"):
        source.parse(respond(source.build_request("x", 0), body), 0)


def test_so_item_without_img_fails_the_page() -> None:
    source = make_source("so_images")
    body = json.dumps({"total": 1, "end": True, "list": [{"title": "x"}]})
    with pytest.raises(ParseError, match="no img"):
        source.parse(respond(source.build_request("x", 0), body), 0)


# --- Sogou ------------------------------------------------------------------------------------


def test_sogou_unwrap_redirect_matches_the_clear_url_in_the_real_answer() -> None:
    data = json.loads((FIXTURES / "sogou_images" / "pics-constructed.json").read_text("utf-8"))
    wrapped = [i for i in data["items"] if "redirect.sogou.com" in i["pic_url"]]
    assert wrapped, "the real answer has redirect-wrapped pic_url values"
    for item in wrapped:
        assert unwrap_redirect(item["pic_url"]) == item["pic_url_noredirect"]


def test_sogou_unwrap_redirect_leaves_other_urls_alone() -> None:
    assert unwrap_redirect("http://img.hexun.com/a.jpg") == "http://img.hexun.com/a.jpg"
    bad = "http://redirect.sogou.com/proxy?url=%%%"
    assert unwrap_redirect(bad) == bad


# --- shared helpers and registration ---------------------------------------------------------


def test_strip_tags_removes_highlighting_stray_tags_entities_and_hit_markers() -> None:
    assert strip_tags("图14 员工离职率对比折线图</strong>") == "图14 员工离职率对比折线图"
    assert strip_tags("<em>北京</em> &amp;  \ue000x\ue001") == "北京 & x"
    assert strip_tags("a &lt; b &gt; c") == "a < b > c"


def test_parse_int_reads_counts_as_engines_print_them() -> None:
    assert parse_int("8,587") == 8587
    assert parse_int("约52,000") == 52000
    assert parse_int(332412) == 332412
    assert parse_int("") is None
    assert parse_int(True) is None
    assert parse_int(None) is None


def test_response_text_falls_back_to_gb18030_only_without_a_declared_charset() -> None:
    body = "搜索内容".encode("gbk")
    request = httpx.Request("GET", "https://pic.sogou.com/pics")
    assert response_text(httpx.Response(200, content=body, request=request)) == "搜索内容"
    declared = httpx.Response(
        200, content=body, request=request, headers={"content-type": "text/html; charset=utf-8"}
    )
    assert response_text(declared) != "搜索内容"


@pytest.mark.parametrize(
    ("kind", "family"),
    [("baidu_images", "chinese"), ("so_images", "chinese"), ("sogou_images", "chinese")],
)
def test_chinese_sources_are_registered_with_their_family(kind: str, family: str) -> None:
    cls = load(kind)
    assert (cls.kind, cls.family) == (kind, family)
    assert cls.__doc__ and cls.__module__ and cls.default_base_url.startswith("https://")


def test_deep_markup_is_refused_after_its_first_thousand_levels_not_after_the_whole_page() -> None:
    from monitor.sources.parsing import nesting, soup_of
    from tests.helpers.parsers import nested_divs

    page = nested_divs(200_000)
    assert nesting(page) > 18_000  # the whole page, counted
    assert nesting(page, stop_over=1000) == 1001  # the count stops once past the bound
    with pytest.raises(ParseError, match=r"too complex \(markup nested more than 1000 deep\)"):
        soup_of(page)


@pytest.mark.parametrize(
    "element",
    ['<t8">', "<t8'>", "<my-el>", "<x.y>", '<br">'],
    ids=["quote-after-name", "apostrophe-after-name", "dash", "dot", "void-name-and-quote"],
)
def test_deep_markup_is_refused_whatever_ends_its_tag_names(element: str) -> None:
    # Found by the fuzzer: '<t8">' repeated is an element nested 4,496 deep to lxml (its
    # name runs to a space, "/" or ">"), but the depth count skipped it and bs4 spent
    # 5.6 s building the tree.
    from monitor.sources.parsing import soup_of

    with pytest.raises(ParseError, match=r"too complex \(markup nested more than 1000 deep\)"):
        soup_of("<html><body>" + element * 1001 + "x")


@pytest.mark.parametrize(
    "text",
    ["a<b " * 5000, "<script>" + "i<n;" * 5000 + "</script><p>x", "<b x=1 <i <u" * 2000 + ">"],
    ids=["no-closing-bracket", "inside-a-script", "inside-one-tag"],
)
def test_a_less_than_sign_that_starts_no_element_is_not_counted_as_depth(text: str) -> None:
    # (once the count saw 5,000 levels in "a<b " * 5000, where lxml sees none)
    from monitor.sources.parsing import nesting

    assert nesting(text) <= 2


@pytest.mark.parametrize("body", ["https://image.baidu.com/search", "index.html", b"/tmp/a.jpg"])
def test_a_body_that_looks_like_a_url_or_a_file_name_is_parsed_without_a_warning(
    body: str | bytes,
) -> None:
    # Found by bench.fuzz: bs4 warns (an error under pytest's "error" filter) that the
    # markup "looks like a URL"; it is what the engine sent, judged by what is in it.
    from monitor.sources.parsing import soup_of

    assert soup_of(body).find("img") is None
