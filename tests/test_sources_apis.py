"""Request building and edge cases of the API sources: Wikimedia Commons, GDELT, Google CSE.

The golden files cover the saved answers; these tests cover what a saved answer cannot show:
the URLs we send, paging, base_url, secrets, and answers no sample exists for.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from monitor.check import run_check
from monitor.core.errors import Blocked, Misconfigured, ParseError
from monitor.core.observation import PageResult, Status
from monitor.fetch.client import Fetcher
from monitor.sources.base import Source
from monitor.sources.gdelt import gdelt_timespan
from tests.helpers.golden import make_source

GOOGLE = {"api_key": "AIzaSy-SECRET-KEY", "cx": "0123456789abcdef0"}


def answer(source: Source, body: Any, *, status: int = 200, page: int = 0) -> PageResult:
    """Parse ``body`` (JSON-encoded unless bytes/str) as the answer to a request for 'x'."""
    if isinstance(body, str):
        content = body.encode()
    elif isinstance(body, bytes):
        content = body
    else:
        content = json.dumps(body).encode()
    request = source.build_request("x", page)
    return source.parse(httpx.Response(status, content=content, request=request), page)


# --- Wikimedia Commons ------------------------------------------------------------------


def test_commons_search_request_asks_file_namespace_with_totalhits_and_thumbnails() -> None:
    source = make_source("wikimedia_commons")
    request = source.build_request("Dong Jingwei", 0)
    params = request.url.params
    assert str(request.url).startswith("https://commons.wikimedia.org/w/api.php?")
    assert params["generator"] == "search"
    assert params["gsrsearch"] == "filetype:bitmap|drawing Dong Jingwei"  # pictures only
    assert params["gsrnamespace"] == "6"
    assert "totalhits" in params["gsrinfo"].split("|")
    assert params["prop"] == "imageinfo"
    assert params["iiprop"] == "url|mime"
    assert params["iiurlwidth"] == "320"
    assert params["maxlag"] == "5"
    assert "gsroffset" not in params


def test_commons_page_n_requests_offset_n_times_limit() -> None:
    source = make_source("wikimedia_commons", limit=40)
    assert source.build_request("x", 2).url.params["gsroffset"] == "80"


def test_commons_honours_base_url() -> None:
    source = make_source("wikimedia_commons", base_url="http://127.0.0.1:8081")
    url = source.build_request("x", 0).url
    assert (url.scheme, url.host, url.port, url.path) == ("http", "127.0.0.1", 8081, "/w/api.php")


def test_commons_default_user_agent_names_the_tool_and_can_be_replaced() -> None:
    default = make_source("wikimedia_commons").build_request("x", 0)
    assert default.headers["user-agent"].startswith("image-absence-monitor/")
    own = make_source("wikimedia_commons", user_agent="watch/1.0 (ops@example.org)")
    assert own.build_request("x", 0).headers["user-agent"] == "watch/1.0 (ops@example.org)"


def test_commons_user_agent_follows_policy_with_the_contact() -> None:
    ua = make_source("wikimedia_commons", contact="desk@news.example").build_request("x", 0)
    agent = ua.headers["user-agent"]
    assert agent.startswith("image-absence-monitor/0.1.0 (desk@news.example) python-httpx/")


def test_real_commons_without_contact_is_refused_but_base_url_is_exempt() -> None:
    from monitor.sources import load

    cls = load("wikimedia_commons")
    with pytest.raises(ValidationError, match="needs a contact"):
        cls.Options(kind="wikimedia_commons")
    with pytest.raises(ValidationError, match="needs a contact"):
        cls.Options(kind="wikimedia_commons", user_agent="watch/1.0 python-httpx")
    cls.Options(kind="wikimedia_commons", base_url="http://127.0.0.1:8081")
    cls.Options(kind="wikimedia_commons", enabled=False)


def test_commons_counts_only_files_whose_mime_is_an_image() -> None:
    def page(n: int, name: str, mime: str) -> dict[str, object]:
        url = f"https://upload.wikimedia.org/a/{name}"
        return {"index": n, "title": f"File:{name}", "imageinfo": [{"url": url, "mime": mime}]}

    body = {
        "query": {
            "searchinfo": {"totalhits": 5},
            "pages": {
                "1": page(1, "Portrait.jpg", "image/jpeg"),
                "2": page(2, "Speech.ogg", "audio/ogg"),
                "3": page(3, "Visit.webm", "video/webm"),
                "4": page(4, "Report.pdf", "application/pdf"),
                "5": page(5, "Scan.djvu", "image/vnd.djvu"),
            },
        }
    }
    result = answer(make_source("wikimedia_commons"), body)
    names = [i.title for i in result.items]
    assert names == ["Portrait.jpg"]


def test_commons_rejects_more_than_50_per_page() -> None:
    with pytest.raises(ValidationError):
        make_source("wikimedia_commons", limit=51)


def test_commons_category_request_reads_categoryinfo_and_members_of_the_term() -> None:
    source = make_source("wikimedia_commons", category="Category:{query}")
    params = source.build_request("Dong Jingwei", 0).url.params
    assert params["titles"] == "Category:Dong Jingwei"
    assert params["prop"] == "categoryinfo"
    assert params["list"] == "categorymembers"
    assert params["cmtitle"] == "Category:Dong Jingwei"
    assert params["cmtype"] == "file"
    assert "generator" not in params


def test_commons_category_listing_never_asks_for_another_page() -> None:
    source = make_source("wikimedia_commons", category="X")
    body = {
        "continue": {"cmcontinue": "file|4142|1", "continue": "-||"},
        "query": {
            "pages": {
                "1": {"pageid": 1, "ns": 14, "title": "Category:X", "categoryinfo": {"files": 900}}
            },
            "categorymembers": [{"pageid": 2, "ns": 6, "title": "File:A b.jpg"}],
        },
    }
    result = answer(source, body)
    assert result.has_more is False
    assert result.reported_total == 900
    assert [i.image_url for i in result.items] == [
        "https://commons.wikimedia.org/wiki/Special:FilePath/A_b.jpg"
    ]


def test_commons_reads_formatversion_2_page_lists() -> None:
    body = {
        "query": {
            "searchinfo": {"totalhits": 1},
            "pages": [
                {
                    "ns": 6,
                    "title": "File:A.jpg",
                    "index": 1,
                    "imageinfo": [{"url": "https://upload.wikimedia.org/a/A.jpg"}],
                }
            ],
        }
    }
    result = answer(make_source("wikimedia_commons"), body)
    assert [i.image_url for i in result.items] == ["https://upload.wikimedia.org/a/A.jpg"]
    assert result.items[0].title == "A.jpg"


def test_commons_errorformat_list_is_a_parse_error_with_its_code() -> None:
    body = {"errors": [{"code": "badinteger", "text": "Invalid value."}]}
    with pytest.raises(ParseError, match="badinteger"):
        answer(make_source("wikimedia_commons"), body)


def test_commons_ratelimited_error_is_blocked() -> None:
    body = {"error": {"code": "ratelimited", "info": "You've exceeded your rate limit."}}
    with pytest.raises(Blocked, match="ratelimited"):
        answer(make_source("wikimedia_commons"), body)


def test_commons_page_past_the_end_is_empty_not_no_results() -> None:
    body = {"batchcomplete": "", "query": {"searchinfo": {"totalhits": 12}}}
    result = answer(make_source("wikimedia_commons"), body, page=1)
    assert result.items == ()
    assert result.no_results is False
    assert result.has_more is False


def test_commons_pages_without_imageinfo_are_a_parse_error() -> None:
    body = {"query": {"searchinfo": {"totalhits": 3}, "pages": {"5": {"ns": 6, "title": "File:x"}}}}
    with pytest.raises(ParseError, match="imageinfo"):
        answer(make_source("wikimedia_commons"), body)


# --- GDELT ------------------------------------------------------------------------------


def test_gdelt_request_is_artlist_json_with_phrase_and_window() -> None:
    request = make_source("gdelt").build_request("Dong  Jingwei", 0)
    params = request.url.params
    assert str(request.url).startswith("https://api.gdeltproject.org/api/v2/doc/doc?")
    assert params["query"] == '"Dong Jingwei"'
    assert params["mode"] == "ArtList"
    assert params["format"] == "json"
    assert params["maxrecords"] == "250"
    assert params["timespan"] == "7d"


def test_gdelt_single_words_and_quoted_terms_are_not_requoted() -> None:
    source = make_source("gdelt")
    assert source.build_request("董经纬", 0).url.params["query"] == "董经纬"
    assert source.build_request('"Dong Jingwei"', 0).url.params["query"] == '"Dong Jingwei"'
    loose = make_source("gdelt", phrase=False)
    assert loose.build_request("Dong Jingwei", 0).url.params["query"] == "Dong Jingwei"


@pytest.mark.parametrize(
    ("span", "expected"),
    [
        (timedelta(minutes=15), "15min"),
        (timedelta(minutes=90), "90min"),
        (timedelta(hours=6), "6h"),
        (timedelta(days=1), "1d"),
        (timedelta(weeks=2), "14d"),
    ],
)
def test_gdelt_timespan_uses_gdelt_units_not_config_units(span: timedelta, expected: str) -> None:
    assert gdelt_timespan(span) == expected


def test_gdelt_timespan_option_takes_config_syntax() -> None:
    assert (
        make_source("gdelt", timespan="36h").build_request("x", 0).url.params["timespan"] == "36h"
    )


@pytest.mark.parametrize("span", ["5m", "100d"])
def test_gdelt_rejects_windows_outside_what_the_api_keeps(span: str) -> None:
    with pytest.raises(ValidationError, match="timespan"):
        make_source("gdelt", timespan=span)


def test_gdelt_honours_base_url() -> None:
    url = make_source("gdelt", base_url="http://127.0.0.1:9000").build_request("x", 0).url
    assert (url.host, url.port, url.path) == ("127.0.0.1", 9000, "/api/v2/doc/doc")


def test_gdelt_articles_without_social_image_are_coverage_not_images() -> None:
    body = {
        "articles": [
            {"url": "https://a.example/1", "title": "A", "socialimage": "", "domain": "a.example"},
            {
                "url": "https://b.example/2",
                "title": "B &amp; C",
                "socialimage": "https://b.example/i.jpg",
                "domain": "b.example",
            },
        ]
    }
    result = answer(make_source("gdelt"), body)
    assert [(i.image_url, i.title, i.domain) for i in result.items] == [
        ("https://b.example/i.jpg", "B & C", "b.example")
    ]
    assert result.no_results is False


def test_gdelt_only_text_articles_is_a_recognised_zero_images_answer() -> None:
    body = {"articles": [{"url": "https://a.example/1", "title": "A", "socialimage": ""}]}
    result = answer(make_source("gdelt"), body)
    assert result.items == ()
    assert result.no_results is True


def test_gdelt_empty_articles_list_is_no_results() -> None:
    assert answer(make_source("gdelt"), {"articles": []}).no_results is True


def test_gdelt_accepts_raw_control_characters_in_titles() -> None:
    body = (
        '{"articles": [{"url": "https://a.example/1", "title": "line\tbreak\u0001", '
        '"socialimage": "https://a.example/i.jpg"}]}'
    )
    assert len(answer(make_source("gdelt"), body).items) == 1


def test_gdelt_article_without_url_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="no url"):
        answer(make_source("gdelt"), {"articles": [{"title": "A", "socialimage": "https://i"}]})


# --- Google Custom Search ---------------------------------------------------------------


def test_google_key_travels_in_a_header_never_in_the_url() -> None:
    request = make_source("google_cse", **GOOGLE).build_request("Dong Jingwei", 0)
    assert request.headers["x-goog-api-key"] == GOOGLE["api_key"]
    assert GOOGLE["api_key"] not in str(request.url)
    params = request.url.params
    assert str(request.url).startswith("https://www.googleapis.com/customsearch/v1?")
    assert params["cx"] == GOOGLE["cx"]
    assert params["q"] == "Dong Jingwei"
    assert params["searchType"] == "image"


def test_google_page_n_starts_at_one_plus_n_times_num() -> None:
    source = make_source("google_cse", **GOOGLE)
    assert source.build_request("x", 0).url.params["start"] == "1"
    assert source.build_request("x", 2).url.params["start"] == "21"


def test_google_honours_base_url() -> None:
    source = make_source("google_cse", base_url="http://127.0.0.1:7000", **GOOGLE)
    url = source.build_request("x", 0).url
    assert (url.host, url.port, url.path) == ("127.0.0.1", 7000, "/customsearch/v1")


def test_google_secrets_stay_out_of_describe_and_repr() -> None:
    source = make_source("google_cse", **GOOGLE)
    for text in (source.describe(), repr(source.options), str(source.options)):
        assert GOOGLE["api_key"] not in text
        assert GOOGLE["cx"] not in text


def test_google_requires_key_and_cx() -> None:
    with pytest.raises(ValidationError, match="api_key"):
        make_source("google_cse", cx="x")


def test_google_daily_limit_403_is_blocked() -> None:
    body = {
        "error": {
            "code": 403,
            "message": "Daily Limit Exceeded",
            "errors": [{"reason": "dailyLimitExceeded"}],
        }
    }
    with pytest.raises(Blocked, match="Daily Limit"):
        answer(make_source("google_cse", **GOOGLE), body, status=403)


def test_google_api_not_enabled_403_is_a_configuration_problem() -> None:
    body = {
        "error": {
            "code": 403,
            "status": "PERMISSION_DENIED",
            "message": "Custom Search API has not been used in project 1 before",
            "errors": [{"reason": "accessNotConfigured"}],
        }
    }
    with pytest.raises(Misconfigured, match="PERMISSION_DENIED"):
        answer(make_source("google_cse", **GOOGLE), body, status=403)


def test_google_page_past_the_end_is_empty_not_no_results() -> None:
    body = {"searchInformation": {"totalResults": "37"}}
    result = answer(make_source("google_cse", **GOOGLE), body, page=4)
    assert (result.items, result.no_results, result.reported_total) == ((), False, 37)


def test_google_last_page_has_no_more() -> None:
    body = {
        "searchInformation": {"totalResults": "1"},
        "queries": {"request": [{"startIndex": 1}]},
        "items": [
            {"link": "https://i.example/a.jpg", "title": "<b>A</b>", "displayLink": "www.x.org"}
        ],
    }
    result = answer(make_source("google_cse", **GOOGLE), body)
    assert result.has_more is False
    assert (result.items[0].title, result.items[0].domain) == ("A", "x.org")


# --- through the shared fetcher and checker ---------------------------------------------


async def _no_sleep(_: float) -> None:
    return None


async def test_google_key_reaches_the_server_in_the_header_through_the_fetcher() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"searchInformation": {"totalResults": "0"}})

    source = make_source("google_cse", **GOOGLE)
    async with Fetcher(transport=httpx.MockTransport(handler), sleep=_no_sleep) as fetcher:
        observation = await run_check(source, "Dong Jingwei", fetcher)
    assert observation.status is Status.NO_RESULTS
    (request,) = seen
    assert request.headers["x-goog-api-key"] == GOOGLE["api_key"]
    assert GOOGLE["api_key"] not in str(request.url)


async def test_gdelt_text_only_coverage_is_a_zero_image_observation() -> None:
    body = {"articles": [{"url": "https://a.example/1", "title": "A", "socialimage": ""}]}

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=body)

    async with Fetcher(transport=httpx.MockTransport(handler), sleep=_no_sleep) as fetcher:
        observation = await run_check(make_source("gdelt"), "x", fetcher)
    assert observation.status is Status.NO_RESULTS
    assert observation.image_count == 0


def test_google_empty_credentials_are_refused_only_when_enabled() -> None:
    with pytest.raises(ValidationError, match="api_key and cx must be set"):
        make_source("google_cse", api_key="", cx="x")
    assert make_source("google_cse", api_key="", cx="", enabled=False).describe()
