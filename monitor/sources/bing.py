"""Bing image search: the ``/images/async`` fragment (default) or the ``/images/search`` page.

Each result is an ``a.iusc`` anchor whose ``m`` attribute is HTML-escaped JSON with ``murl``
(image), ``turl`` (thumbnail), ``purl`` (page) and ``t`` (title, with U+E000/U+E001 hit
markers). Bing states no total. A page saying there are no results is ``no_results``; a page
with neither results nor that message is a ``ParseError``. See PARSING.md §2 and §9.4.

Bing is known to serve structurally valid decoy pages (unrelated results, no captcha); this
parser cannot tell them apart and counts them as results.
"""

from __future__ import annotations

import json
import logging
from typing import Any, ClassVar, Literal

import httpx
from bs4 import BeautifulSoup, Tag
from pydantic import Field

from monitor.core.errors import Blocked, ParseError
from monitor.core.observation import ImageItem, PageResult
from monitor.sources.base import Source, SourceOptions
from monitor.sources.parsing import (
    browser_headers,
    coerce_options,
    redirect_target,
    require_body,
    response_text,
    strip_tags,
)

logger = logging.getLogger(__name__)

# The English message from the issue; localized markets print their own sentence, which a
# user adds through the option (no localized sample has been captured).
DEFAULT_NO_RESULTS_MARKERS = ("There are no results for",)


class BingOptions(SourceOptions):
    """Bing options: endpoint, page size and the sentences that mean "nothing found"."""

    endpoint: Literal["async", "search"] = "async"
    count: int = Field(default=35, ge=1, le=150)  # results per page, as Bing's own XHR asks
    no_results_markers: tuple[str, ...] = DEFAULT_NO_RESULTS_MARKERS


class BingImages(Source):
    """Bing image search via ``a.iusc`` anchors; no reported total."""

    kind: ClassVar[str] = "bing_images"
    family: str = "bing"
    default_base_url: ClassVar[str] = "https://www.bing.com"
    Options: ClassVar[type[SourceOptions]] = BingOptions
    options: BingOptions

    def __init__(self, name: str, options: SourceOptions) -> None:
        super().__init__(name, coerce_options(options, BingOptions))

    def build_request(self, term: str, page: int) -> httpx.Request:
        o = self.options
        first = page * o.count + 1  # Bing's ``first`` is 1-based
        search_url = self.url(self.default_base_url + "/images/search")
        if o.endpoint == "search":
            params: dict[str, str | int] = {"q": term, "form": "HDRSC2", "first": first}
            headers = browser_headers(o, accept="text/html,application/xhtml+xml,*/*;q=0.8")
            return httpx.Request("GET", search_url, params=params, headers=headers)
        # The fragment a results page fetches while scrolling; the page is its Referer.
        referer = str(httpx.URL(search_url, params={"q": term, "form": "HDRSC2"}))
        params = {"q": term, "first": first, "count": o.count, "async": 1, "mmasync": 1}
        headers = browser_headers(o, accept="*/*", referer=referer)
        url = self.url(self.default_base_url + "/images/async")
        return httpx.Request("GET", url, params=params, headers=headers)

    def parse(self, response: httpx.Response, page: int) -> PageResult:
        target = redirect_target(response)
        # Bing has not been seen serving a captcha to image search; a redirect to a
        # challenge or captcha path is still a refusal, never an empty result.
        path = httpx.URL(target).path.lower() if target else ""
        if "captcha" in path or "/challenge" in path:
            raise Blocked(f"redirected to {path}")
        body = require_body(response_text(response))
        if body.startswith(("{", "[")):
            raise ParseError("JSON where an HTML result page was expected")
        soup = BeautifulSoup(body, "lxml")
        anchors = [a for a in soup.select("a.iusc") if isinstance(a, Tag)]
        if not anchors:
            text = soup.get_text(" ")
            for marker in self.options.no_results_markers:
                if marker in text:
                    return PageResult((), no_results=page == 0)
            raise ParseError("no a.iusc result anchors and no no-results message")
        # The result list of a complete answer is closed after its last anchor; a body cut
        # off mid-list would otherwise pass as a shorter page.
        if "</ul>" not in body[body.rfind("iusc") :]:
            raise ParseError("result list not closed after the last a.iusc (truncated)")
        items = tuple(_item(a, n) for n, a in enumerate(anchors))
        return PageResult(items, reported_total=None, has_more=self._has_more(soup, items))

    def _has_more(self, soup: BeautifulSoup, items: tuple[ImageItem, ...]) -> bool:
        # The async fragment names its next page in data-nextUrl; without the component
        # (the full page, stripped copies), a full page suggests another.
        component = soup.select_one("div.dgControl[data-nexturl]")
        if component is not None:
            return bool(str(component.get("data-nexturl") or "").strip())
        return len(items) >= self.options.count


def _item(anchor: Tag, n: int) -> ImageItem:
    """One anchor's ``m`` JSON as an item; a broken one fails the page, not just the item."""
    raw = anchor.get("m")
    if not isinstance(raw, str) or not raw.strip():
        raise ParseError(f"a.iusc #{n + 1} has no m attribute")
    try:
        m: Any = json.loads(raw)
    except json.JSONDecodeError:
        raise ParseError(f"a.iusc #{n + 1} m attribute is not JSON (truncated?)") from None
    if not isinstance(m, dict) or not m.get("murl"):
        raise ParseError(f"a.iusc #{n + 1} has no murl")
    title = strip_tags(str(m.get("t") or m.get("desc") or ""))
    return ImageItem(
        image_url=str(m["murl"]),
        thumb_url=str(m["turl"]) if m.get("turl") else None,
        page_url=str(m["purl"]) if m.get("purl") else None,
        title=title or None,
    ).with_domain()
