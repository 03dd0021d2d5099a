"""Bing image search: the ``/images/async`` fragment (default) or the ``/images/search`` page.

Each result is an ``a.iusc`` anchor whose ``m`` attribute is HTML-escaped JSON with ``murl``
(image), ``turl`` (thumbnail), ``purl`` (page) and ``t`` (title, with U+E000/U+E001 hit
markers). Bing states no total. A page saying there are no results (in English or Chinese)
is ``no_results``; a page with neither results nor that message is a ``ParseError``. See
PARSING.md §2 and §9.4.

Results drift with locale, so every request names a market: ``mkt`` and ``setlang`` in the
query and a matching ``Accept-Language`` (SearXNG ``searx/engines/bing.py``
``get_locale_params``/``override_accept_language`` @e29e861e). ``cn.bing.com``, the Bing
inside China, is a source of its own (``base_url``), with the ``zh-CN`` market by default.
An empty ``data-nextUrl`` on a full page does not end paging: a full page asks for another.

Bing is known to serve structurally valid decoy pages (unrelated results, no captcha); this
parser cannot tell them apart and counts them as results.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any, ClassVar, Literal
from urllib.parse import urlencode

import httpx
from lxml import etree
from pydantic import Field, field_validator

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
from monitor.sources.tree import has_class, html_tree, visible_text

logger = logging.getLogger(__name__)

# Bing's "nothing found" sentence in English and in Chinese (simplified, traditional), as
# current scrapers match it (PROVENANCE.md of the bing_images fixtures); other markets print
# their own, which a user adds through the option.
DEFAULT_NO_RESULTS_MARKERS = (
    "There are no results for",
    "没有与此相关的结果",
    "沒有與此相關的結果",
)
_MARKET = re.compile(r"([A-Za-z]{2,3})-([A-Za-z]{2})")
# Bing's UI languages for Chinese are scripts, not countries (setlang=zh-hans).
_SCRIPT = {"zh-cn": "zh-hans", "zh-sg": "zh-hans", "zh-tw": "zh-hant", "zh-hk": "zh-hant"}
CHINA_HOST = "cn.bing.com"
# The parser reads only these: the result anchors (CSS ``a.iusc``) and the next page's URL
# (``div.dgControl[data-nexturl]``; lxml lower-cases attribute names as bs4 did).
_ANCHORS = etree.XPath(f"//a[{has_class('iusc')}]")
_NEXT_URLS = etree.XPath(f"//div[{has_class('dgControl')}]/@data-nexturl", smart_strings=False)


class BingOptions(SourceOptions):
    """Bing options: endpoint, page size, market and the sentences that mean "nothing found".

    ``market`` (``mkt``, e.g. ``en-US``) defaults to ``zh-CN`` for ``cn.bing.com`` and to
    ``en-US`` elsewhere; ``setlang`` defaults to the market's UI language. Unless
    ``accept_language`` is set, the header follows the market (``en-US,en;q=0.9``).
    """

    endpoint: Literal["async", "search"] = "async"
    count: int = Field(default=35, ge=1, le=150)  # results per page, as Bing's own XHR asks
    no_results_markers: tuple[str, ...] = DEFAULT_NO_RESULTS_MARKERS
    market: str | None = None
    setlang: str | None = Field(default=None, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z]{2,4})?$")

    @field_validator("market")
    @classmethod
    def _market_is_language_country(cls, value: str | None) -> str | None:
        if value is None:
            return None
        m = _MARKET.fullmatch(value.strip())
        if not m:
            raise ValueError(f'"{value}" is not a market (use language-COUNTRY, e.g. en-US, zh-CN)')
        return f"{m.group(1).lower()}-{m.group(2).upper()}"


def market_of(options: BingOptions) -> str:
    """The market a source sends: its ``market``, else the one of its host."""
    if options.market:
        return options.market
    host = (httpx.URL(options.base_url).host if options.base_url else "").lower()
    return "zh-CN" if host == CHINA_HOST else "en-US"


def setlang_of(options: BingOptions) -> str:
    """Bing's UI language for the source: ``setlang``, else the market's (``zh-hans``)."""
    if options.setlang:
        return options.setlang.lower()
    market = market_of(options).lower()
    return _SCRIPT.get(market, market)


def accept_language_of(market: str) -> str:
    """The ``Accept-Language`` a browser in ``market`` sends, as SearXNG builds it."""
    return f"{market},{market.split('-')[0]};q=0.9"


class BingImages(Source):
    """Bing image search via ``a.iusc`` anchors; no reported total."""

    kind: ClassVar[str] = "bing_images"
    keys: ClassVar[str] = (
        "a.iusc anchors, their m attribute JSON (murl image, turl thumbnail, purl page, t "
        "title); data-nextUrl; no-results sentences (English, Chinese); captcha paths"
    )
    family: str = "bing"
    default_base_url: ClassVar[str] = "https://www.bing.com"
    Options: ClassVar[type[SourceOptions]] = BingOptions
    options: BingOptions

    def __init__(self, name: str, options: SourceOptions) -> None:
        opts = coerce_options(options, BingOptions)
        if "accept_language" not in opts.model_fields_set:
            # The header follows the market; the fetcher's default header is this one too.
            opts = opts.model_copy(update={"accept_language": accept_language_of(market_of(opts))})
        super().__init__(name, opts)
        self.market = market_of(opts)
        self.setlang = setlang_of(opts)
        # The endpoints as httpx writes them (scheme and host lower-cased, default port
        # dropped), so that a query appended to them gives the URL httpx would build.
        self._search = str(httpx.URL(self.url(self.default_base_url + "/images/search")))
        self._async = str(httpx.URL(self.url(self.default_base_url + "/images/async")))

    def build_request(self, term: str, page: int) -> httpx.Request:
        o = self.options
        first = page * o.count + 1  # Bing's ``first`` is 1-based
        locale = {"mkt": self.market, "setlang": self.setlang}
        # Each URL is parsed once, whole (httpx parses a URL and its params apart, then
        # again merged: ~100 us a check): the query is encoded here as httpx encodes it.
        if o.endpoint == "search":
            params: dict[str, str | int] = {"q": term, "form": "HDRSC2", "first": first, **locale}
            headers = browser_headers(o, accept="text/html,application/xhtml+xml,*/*;q=0.8")
            return httpx.Request("GET", f"{self._search}?{urlencode(params)}", headers=headers)
        # The fragment a results page fetches while scrolling; the page is its Referer.
        referer = f"{self._search}?{urlencode({'q': term, 'form': 'HDRSC2'})}"
        params = {"q": term, "first": first, "count": o.count, "async": 1, "mmasync": 1, **locale}
        headers = browser_headers(o, accept="*/*", referer=referer)
        return httpx.Request("GET", f"{self._async}?{urlencode(params)}", headers=headers)

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
        root = html_tree(body)
        anchors = _ANCHORS(root)
        assert isinstance(anchors, list)
        if not anchors:
            text = visible_text(root)
            for marker in self.options.no_results_markers:
                if marker in text:
                    return PageResult((), no_results=page == 0)
            raise ParseError("no a.iusc result anchors and no no-results message")
        # The result list of a complete answer is closed after its last anchor; a body cut
        # off mid-list would otherwise pass as a shorter page.
        if "</ul>" not in body[body.rfind("iusc") :]:
            raise ParseError("result list not closed after the last a.iusc (truncated)")
        items = tuple(_item(a, n) for n, a in enumerate(anchors))
        return PageResult(items, reported_total=None, has_more=self._has_more(root, items))

    def _has_more(self, root: etree._Element, items: tuple[ImageItem, ...]) -> bool:
        # The async fragment names its next page in data-nextUrl, but Bing leaves it empty
        # on full pages too: a full page always asks for another (up to max_pages), and
        # only a short page with no next URL ends the results.
        if len(items) >= self.options.count:
            return True
        urls = _NEXT_URLS(root)
        assert isinstance(urls, list)
        return bool(urls) and bool(str(urls[0]).strip())


def _item(anchor: etree._Element, n: int) -> ImageItem:
    """One anchor's ``m`` JSON as an item; a broken one fails the page, not just the item."""
    raw = anchor.get("m")
    if not isinstance(raw, str) or not raw.strip():
        raise ParseError(f"a.iusc #{n + 1} has no m attribute")
    try:
        m: Any = json.loads(raw)
    except (ValueError, RecursionError):  # JSONDecodeError, a 4,300-digit number, nesting
        raise ParseError(f"a.iusc #{n + 1} m attribute is not JSON (truncated?)") from None
    if not isinstance(m, dict) or not m.get("murl"):
        raise ParseError(f"a.iusc #{n + 1} has no murl")
    title = strip_tags(str(m.get("t") or m.get("desc") or ""))
    item = ImageItem(
        image_url=str(m["murl"]),
        thumb_url=str(m["turl"]) if m.get("turl") else None,
        page_url=str(m["purl"]) if m.get("purl") else None,
        title=title or None,
    )
    try:
        return item.with_domain()
    except ValueError:  # an unparseable URL: the check skips and counts the item
        return item
