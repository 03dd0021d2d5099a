"""GDELT DOC 2.0 API, ``mode=ArtList``: world news articles mentioning the term recently.

Each article carries its lead image (``socialimage``, the page's og:image). An item is one
article *with* an image; the count is distinct images. Articles without a social image are
coverage but not images: they are left out of the items. When every article is text-only
the answer is recognised and holds no image, so it is ``no_results`` (zero images), the one
zero the pipeline accepts (it refuses ``ok`` with no items on the first page).

A social image is often not a picture of anyone: the outlet's default share image (its
logo, ``og-image``, ``default``, ``placeholder``, ``share`` images) stands in when an article
has none of its own. Those are not counted (``sources.share_images``): an image whose file
or folder name says so, and one image repeated across ``default_image_repeats`` or more of
that outlet's articles in one answer. They stay in the raw body kept as evidence.

ArtList has no total (PARSING.md §5): ``reported_total`` is always ``None``. It is capped
at ``maxrecords`` (at most 250) and has no paging. Errors arrive as plain text, with HTTP
200 or 429, and are never results: the rate-limit text is ``Blocked``, any other text a
``ParseError`` quoting it. GDELT's no-results answer is the JSON ``{}``.

Politeness: GDELT asks for one request every 5 seconds, so a real GDELT source refuses a
faster ``rate``; its 429 is load shedding, so after one polite retry (the host rests
``throttle_wait``, 10 s by default, first) the check is ``blocked``: never fast retries.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any, ClassVar

import httpx
from pydantic import Field, field_validator, model_validator

from monitor.core.errors import Blocked, ParseError
from monitor.core.observation import ImageItem, PageResult
from monitor.sources.base import Duration, Source, SourceOptions
from monitor.sources.parsing import (
    browser_headers,
    coerce_options,
    load_json,
    require_body,
    response_text,
    strip_tags,
)
from monitor.sources.share_images import default_images

logger = logging.getLogger(__name__)

GDELT_USER_AGENT = "image-absence-monitor/0.1 (news image monitor) python-httpx"
# GDELT's refusal text: "Please limit requests to one every 5 seconds or contact ...".
_RATE_LIMIT_MARKERS = ("limit requests to one every", "please limit requests")
_MIN_SPAN = timedelta(minutes=15)  # GDELT's smallest time step
_MAX_SPAN = timedelta(days=92)  # the API searches a rolling window of about 3 months
_MIN_INTERVAL = 5.0  # "Please limit requests to one every 5 seconds"


def gdelt_timespan(span: timedelta) -> str:
    """``span`` in GDELT's TIMESPAN syntax (``15min``, ``6h``, ``7d``).

    Not the config spelling: in GDELT ``m`` means months, so minutes are written ``min``.
    """
    seconds = int(span.total_seconds())
    if seconds % 86400 == 0:
        return f"{seconds // 86400}d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    return f"{max(seconds // 60, 15)}min"


class GdeltOptions(SourceOptions):
    """GDELT options: the look-back window, the record cap and phrase quoting."""

    # Without a descriptive UA GDELT started throttling (alex9smith/gdelt-doc-api #23).
    user_agent: str = GDELT_USER_AGENT
    timespan: Duration = timedelta(days=7)
    max_records: int = Field(default=250, ge=1, le=250)
    # A multi-word name is a phrase: unquoted, GDELT would match the words anywhere.
    phrase: bool = True
    # One polite retry after a 429, the host resting 10 s first (twice GDELT's 5 s rule).
    throttle_retries: int | None = Field(default=1, ge=0, le=3)
    throttle_wait: Duration | None = timedelta(seconds=10)
    # An image on this many of one outlet's articles in one answer is its default image.
    default_image_repeats: int = Field(default=3, ge=2)

    @model_validator(mode="after")
    def _one_request_every_five_seconds(self) -> GdeltOptions:
        # A base_url source (a mirror, the demo, a test server) is not GDELT's own host.
        if self.base_url is None and self.rate.interval < _MIN_INTERVAL:
            raise ValueError(
                f"rate {self.rate} is faster than GDELT allows (one request every 5 seconds: "
                "use 1/5s or slower)"
            )
        return self

    @field_validator("timespan")
    @classmethod
    def _span_in_range(cls, v: timedelta) -> timedelta:
        if not _MIN_SPAN <= v <= _MAX_SPAN:
            raise ValueError("timespan must be between 15m and 92d (GDELT keeps 3 months)")
        return v


class Gdelt(Source):
    """News articles mentioning the term over a recent window, with their social images."""

    kind: ClassVar[str] = "gdelt"
    keys: ClassVar[str] = (
        "ArtList JSON articles[] (socialimage image, url page, title, domain), outlets' "
        "default share images left out; plain-text errors, {} for nothing found"
    )
    family: str = "independent"
    default_base_url: ClassVar[str] = "https://api.gdeltproject.org"
    Options: ClassVar[type[SourceOptions]] = GdeltOptions
    options: GdeltOptions

    def __init__(self, name: str, options: SourceOptions) -> None:
        super().__init__(name, coerce_options(options, GdeltOptions))

    def query_for(self, term: str) -> str:
        """The GDELT query string for ``term`` (quoted when it is a multi-word phrase)."""
        term = " ".join(term.split())
        if self.options.phrase and " " in term and not term.startswith('"'):
            return f'"{term}"'
        return term

    def build_request(self, term: str, page: int) -> httpx.Request:
        # ArtList has no paging: every page is the same request (has_more is never set).
        o = self.options
        params: dict[str, str | int] = {
            "query": self.query_for(term),
            "mode": "ArtList",
            "format": "json",
            "maxrecords": o.max_records,
            "timespan": gdelt_timespan(o.timespan),
        }
        url = self.url(self.default_base_url + "/api/v2/doc/doc")
        return httpx.Request(
            "GET", url, params=params, headers=browser_headers(o, accept="application/json")
        )

    def parse(self, response: httpx.Response, page: int) -> PageResult:
        body = require_body(response_text(response))
        if not body.startswith(("{", "[", "<")):
            _raise_text_error(body)
        # GDELT titles sometimes carry raw control characters; strict=False accepts them.
        data = load_json(body, strict=False)
        if not isinstance(data, dict):
            raise ParseError("JSON is not an object")
        if not data:
            # `{}` is what GDELT sends when nothing matched (gdelt-doc-api #1 for ArtList,
            # PR #62 for timelines), not `{"articles": []}`.
            return PageResult(items=(), no_results=True)
        articles = data.get("articles")
        if not isinstance(articles, list):
            raise ParseError(f"no 'articles' list (keys: {', '.join(sorted(data))[:80]})")
        if not articles:
            # Never observed from GDELT, but it positively says "no articles".
            return PageResult(items=(), no_results=True)
        with_image = [item for a in articles if (item := _item(a)) is not None]
        house = default_images(with_image, self.options.default_image_repeats)
        items = [i for i in with_image if _key(i) not in house]
        if house:
            logger.debug("GDELT: %d default share images not counted", len(house))
        if len(articles) >= self.options.max_records:
            logger.debug("GDELT returned the %d-record cap: the count is capped", len(articles))
        if not items:
            logger.debug("GDELT: %d articles, none with a picture of its own", len(articles))
        return PageResult(items=tuple(items), no_results=not items)

    def explain_refusal(self, response: httpx.Response) -> None:
        # GDELT's 429 carries the same plain text as its 200 refusals: quote it.
        body = response_text(response).strip()
        if body and not body.startswith(("{", "[", "<")):
            try:
                _raise_text_error(body)
            except ParseError:
                return  # not a refusal we recognise: the fetcher's verdict stands


def _raise_text_error(body: str) -> None:
    """GDELT's plain-text answers: refusals are ``Blocked``, the rest ``ParseError``."""
    line = " ".join(body.split())
    if any(marker in line.lower() for marker in _RATE_LIMIT_MARKERS):
        raise Blocked(f"GDELT rate limit: {line[:120]}")
    raise ParseError(f"GDELT error: {line[:200]}")


def _item(article: Any) -> ImageItem | None:
    if not isinstance(article, dict):
        raise ParseError("an article is not an object")
    url = article.get("url")
    if not isinstance(url, str) or not url:
        raise ParseError("an article has no url")
    image = article.get("socialimage")
    if not isinstance(image, str) or not image.strip():
        return None  # coverage without an image: not counted (see the module docstring)
    title = article.get("title")
    domain = article.get("domain")
    return ImageItem(
        image_url=image.strip(),
        page_url=url,
        title=strip_tags(title) if isinstance(title, str) and title.strip() else None,
        domain=domain.lower() if isinstance(domain, str) and domain else None,
    )


def _key(item: ImageItem) -> str | None:
    """The item's key; ``None`` for an unparseable URL (the check skips and counts it)."""
    try:
        return item.key
    except ValueError:
        return None
