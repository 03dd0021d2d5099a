"""Sogou beyond the golden files: both current answers, paging, and the dead endpoint's option."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest

from monitor.check import run_check
from monitor.config import parse_config
from monitor.core.errors import ConfigError, ParseError
from monitor.core.observation import Status
from monitor.fetch.policy import FetchPolicy
from monitor.sources.sogou import SogouImages, SogouOptions
from tests.helpers.fetch import FakeTime, make_fetcher
from tests.helpers.golden import make_source

FAST = FetchPolicy(interval=0.0, retries=0)


def state_page(entries: list[dict[str, str]]) -> str:
    state = json.dumps({"searchList": {"searchList": entries}}).replace("/", "\\u002F")
    return f"<html><body><script>window.__INITIAL_STATE__ = {state};</script></body></html>"


def entries(page: int, n: int) -> list[dict[str, str]]:
    return [
        {"picUrl": f"https://img{page}.test/{i}.jpg", "url": f"https://site{i}.test/"}
        for i in range(n)
    ]


def test_default_endpoint_requests_the_result_page_with_a_48_offset() -> None:
    source = make_source("sogou_images", base_url="http://127.0.0.1:9001")
    request = source.build_request("搜索内容", 2)
    assert (str(request.url).split("?")[0], dict(request.url.params)) == (
        "http://127.0.0.1:9001/pics",
        {"query": "搜索内容", "start": "96"},
    )
    assert "reqType" not in request.url.params
    assert request.headers["accept"].startswith("text/html")
    assert request.headers["accept-language"] == "zh-CN,zh;q=0.9,en;q=0.8"


def test_napi_endpoint_requests_searchlist_as_current_scrapers_do() -> None:
    options = SogouOptions(kind="sogou_images", endpoint="napi")
    at = datetime(2026, 12, 7, 12, 0, 0, 250_000, tzinfo=UTC)
    request = SogouImages("sogou", options, clock=lambda: at).build_request("搜索内容", 1)
    assert request.headers["x-time4p"] == str(int(at.timestamp() * 1000))
    assert (request.url.host, request.url.path) == ("pic.sogou.com", "/napi/pc/searchList")
    assert dict(request.url.params) == {
        "mode": "1",
        "start": "48",
        "xml_len": "48",
        "query": "搜索内容",
    }
    assert request.headers["referer"].startswith("https://pic.sogou.com/pics?query=")


def test_the_dead_ajax_endpoint_is_refused_with_a_one_line_error_naming_the_fix() -> None:
    text = "people:\n  - name: X\nsources:\n  sogou:\n    kind: sogou_images\n    endpoint: ajax\n"
    with pytest.raises(ConfigError) as err:
        parse_config(text, "config.yaml", {})
    message = str(err.value)
    assert message.startswith("config.yaml:6: sources.sogou.endpoint: ")
    assert "no longer served" in message and "page" in message and "\n" not in message


def test_an_old_config_without_endpoint_still_loads_and_reads_the_page() -> None:
    text = "people:\n  - name: X\nsources:\n  sogou:\n    kind: sogou_images\n    rate: 1/8s\n"
    options = parse_config(text, "config.yaml", {}).sources["sogou"]
    assert isinstance(options, SogouOptions)
    assert options.endpoint == "page"
    request = SogouImages("sogou", options).build_request("x", 0)
    assert request.url.path == "/pics" and "reqType" not in request.url.params


def test_page_state_with_an_item_without_image_skips_only_that_item() -> None:
    source = make_source("sogou_images")
    body = state_page([{"title": "ad"}, *entries(0, 2)])
    result = source.parse(httpx.Response(200, text=body, request=source.build_request("x", 0)), 0)
    assert [i.image_url for i in result.items] == [
        "https://img0.test/0.jpg",
        "https://img0.test/1.jpg",
    ]


def test_napi_with_items_is_read_whatever_its_status() -> None:
    source = make_source("sogou_images", endpoint="napi")
    body = json.dumps({"status": 1, "data": {"items": entries(0, 1)}})
    result = source.parse(httpx.Response(200, text=body, request=source.build_request("x", 0)), 0)
    assert len(result.items) == 1


def test_a_json_answer_where_the_page_is_expected_is_a_parse_error() -> None:
    source = make_source("sogou_images")
    body = json.dumps({"status": 0, "data": {"items": entries(0, 1)}})
    with pytest.raises(ParseError, match="JSON where the result page"):
        source.parse(httpx.Response(200, text=body, request=source.build_request("x", 0)), 0)


@pytest.mark.parametrize("endpoint", ["page", "napi"])
async def test_check_pages_on_while_pages_are_full_up_to_max_pages(endpoint: str) -> None:
    seen: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        start = int(request.url.params["start"])
        seen.append(str(start))
        listed = entries(start // 48, 48 if start < 96 else 5)
        if endpoint == "page":
            return httpx.Response(200, text=state_page(listed))
        return httpx.Response(200, json={"status": 0, "data": {"items": listed}})

    source = make_source("sogou_images", endpoint=endpoint, max_pages=5)
    async with make_fetcher(handler, FakeTime()) as fetcher:
        obs = await run_check(source, "x", fetcher, policy=FAST)
    assert (obs.status, obs.pages, seen) == (Status.OK, 3, ["0", "48", "96"])
    assert obs.image_count == 48 + 48 + 5


async def test_check_of_the_antispider_redirect_is_blocked_not_zero() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/pics":
            return httpx.Response(
                302, headers={"Location": "https://pic.sogou.com/antispider/?f=1"}
            )
        return httpx.Response(200, text="<html><body>验证码</body></html>")

    async with make_fetcher(handler, FakeTime()) as fetcher:
        obs = await run_check(make_source("sogou_images"), "x", fetcher, policy=FAST)
    assert (obs.status, obs.image_count) == (Status.BLOCKED, None)
    assert obs.reason is not None and "antispider" in obs.reason
