"""The lxml reading of Bing pages: what counts as an anchor, as text, and as no page at all."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from monitor.core.errors import ParseError
from monitor.core.observation import PageResult
from tests.helpers.golden import make_source
from tests.test_sources_bing import anchor, page


def parse(body: str, **options: Any) -> PageResult:
    source = make_source("bing_images", **options)
    request = source.build_request("dong jingwei", 0)
    return source.parse(httpx.Response(200, content=body.encode("utf-8"), request=request), 0)


def test_no_results_sentence_inside_a_script_or_comment_is_not_the_signal() -> None:
    body = (
        "<html><body><script>var t = 'There are no results for';</script>"
        "<!-- There are no results for --><div>something else</div></body></html>"
    )
    with pytest.raises(ParseError, match=r"no a\.iusc"):
        parse(body)


def test_a_body_with_no_element_is_a_parse_error_not_a_crash() -> None:
    with pytest.raises(ParseError, match=r"no a\.iusc"):
        parse("<!-- only a comment -->")


def test_anchor_class_among_others_and_first_next_url_decides() -> None:
    one = anchor("https://img.example/a.jpg").replace('class="iusc"', 'class="x  iusc\ty"')
    body = page(one, next_url="") + '<div class="dgControl" data-nextUrl="/next"></div>'
    result = parse(body, count=35)
    assert [i.image_url for i in result.items] == ["https://img.example/a.jpg"]
    assert result.has_more is False
