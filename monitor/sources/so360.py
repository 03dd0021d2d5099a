"""360 image search: the ``image.so.com/j`` JSON endpoint.

An answer has ``list[]`` (``img`` image, ``thumb``/``_thumb`` thumbnails, ``link`` page,
``dspurl`` its host, ``title`` with ``<em>``), ``end`` (false while more pages exist),
``lastindex`` and ``total``. ``total`` was exactly 1500 in every sample, so it looks like a
cap; it is stored as the reported total but presence is judged on the items. 360 answers a
suspected robot with a redirect to ``qcaptcha.so.com`` (seen on web search). See PARSING.md
§3 and §9.2.

As current 360 code does (SearXNG ``searx/engines/360search.py`` @6c9dcd42), a session
cookie is fetched first: ``warmup_request`` loads the site's home page through the fetcher's
warm-up, within the host's politeness budget, and again once it is older than
``session_max_age`` (SearXNG keeps it 3600 s). 360 sends an empty body to addresses outside
China (the same file: "360search returns empty response when called from non-chinese
ips"): that is ``Blocked`` with a reason that says so, never ``no_results``. Pages are
chained by the answer itself: the next ``sn`` is ``lastindex`` + 1 (the items carry their
own ``index``; the 2016 sample asked ``sn=30`` and answered items from index 30 with
``lastindex`` 59), not ``page × pn``, because 360 drops duplicates and a page may hold fewer
than ``pn`` items.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any, ClassVar

import httpx
from pydantic import Field

from monitor.core.errors import Blocked, ParseError
from monitor.core.observation import ImageItem, PageResult
from monitor.sources.base import Duration, Source, SourceOptions
from monitor.sources.parsing import (
    browser_headers,
    coerce_options,
    host_of,
    load_json,
    parse_int,
    redirect_target,
    response_text,
    strip_tags,
)

logger = logging.getLogger(__name__)

_CAPTCHA_HOSTS = ("qcaptcha.so.com",)
# The challenge page text reported for 360 web search; checked only on non-JSON bodies.
_CAPTCHA_MARKERS = ("访问异常",)


class SoOptions(SourceOptions):
    """360 options: results per page (``pn``) and how long the warmed-up cookie is trusted
    before it is fetched again (an hour, as SearXNG keeps it)."""

    pn: int = Field(default=60, ge=1, le=100)
    session_max_age: Duration = Field(default=timedelta(hours=1), gt=timedelta(0))


class SoImages(Source):
    """360 image search (image.so.com) JSON answers."""

    kind: ClassVar[str] = "so_images"
    keys: ClassVar[str] = (
        "JSON list[] (img image, thumb/_thumb, link page, dspurl host, title); total, end, "
        "lastindex; empty body, qcaptcha.so.com"
    )
    family: str = "chinese"
    default_base_url: ClassVar[str] = "https://image.so.com"
    Options: ClassVar[type[SourceOptions]] = SoOptions
    options: SoOptions

    def __init__(self, name: str, options: SourceOptions) -> None:
        super().__init__(name, coerce_options(options, SoOptions))

    def warmup_request(self) -> httpx.Request:
        # SearXNG's 360 engine gets its cookie from a plain page of the site before asking.
        headers = browser_headers(self.options, accept="text/html,application/xhtml+xml,*/*;q=0.8")
        return httpx.Request("GET", self.url(self.default_base_url + "/"), headers=headers)

    def session_max_age(self) -> timedelta:
        return self.options.session_max_age

    def build_request(self, term: str, page: int) -> httpx.Request:
        """The request for ``page`` counted in ``pn`` steps: right for page 0; later pages
        of a check follow the answer (``next_request``)."""
        return self._request(term, page * self.options.pn)

    def next_request(self, term: str, page: int, previous: PageResult) -> httpx.Request:
        if previous.next_offset is None:  # parse refuses a continued answer without one
            raise ParseError("the previous answer named no lastindex to continue from")
        return self._request(term, previous.next_offset)

    def _request(self, term: str, sn: int) -> httpx.Request:
        o = self.options
        # Parameters as the results page's own XHR sends them (PARSING.md §3, §9.2).
        params: dict[str, str | int] = {
            "q": term,
            "src": "srp",
            "correct": term,
            "pd": 1,
            "adstar": 0,
            "tab": "all",
            "sn": sn,
            "pn": o.pn,
        }
        referer = str(httpx.URL(self.url(self.default_base_url + "/i"), params={"q": term}))
        headers = browser_headers(
            o,
            accept="application/json, text/javascript, */*; q=0.01",
            referer=referer,
            **{"X-Requested-With": "XMLHttpRequest"},
        )
        return httpx.Request(
            "GET", self.url(self.default_base_url + "/j"), params=params, headers=headers
        )

    def parse(self, response: httpx.Response, page: int) -> PageResult:
        target = redirect_target(response)
        if host_of(target) in _CAPTCHA_HOSTS:
            raise Blocked(f"redirected to captcha host {host_of(target)}")
        body = response_text(response).strip().lstrip("\ufeff")
        if not body:
            raise Blocked(
                "empty answer: 360 sends an empty body to addresses outside China "
                "(check from a vantage or proxy inside China)"
            )
        if body.startswith("<"):
            for marker in _CAPTCHA_MARKERS:
                if marker in body:
                    raise Blocked(f"challenge page ({marker})")
        return self._result(load_json(body), page, _sn_of(response))

    def _result(self, data: Any, page: int, sn: int | None) -> PageResult:
        if not isinstance(data, dict):
            raise ParseError("answer is not a JSON object")
        raw = data.get("list")
        if not isinstance(raw, list):
            raise ParseError("no list")
        end = data.get("end")
        if not isinstance(end, bool):
            raise ParseError("no end flag")
        total = parse_int(data.get("total"))
        items = tuple(_item(entry, n) for n, entry in enumerate(raw))
        if not items:
            # Only an answer that says it is finished with nothing in it is "nothing found";
            # an empty list that claims more pages (end=false) is not an answer we know.
            if not end:
                raise ParseError("empty list although end=false")
            if page == 0 and total not in (None, 0):
                raise ParseError(f"empty list although total={total}")
            return PageResult((), reported_total=total, no_results=page == 0)
        if end:
            return PageResult(items, reported_total=total)
        last = parse_int(data.get("lastindex"))
        if last is None or (sn is not None and last < sn):
            if page + 1 < self.options.max_pages:  # another page is wanted: no way to it
                raise ParseError(f"end=false but no usable lastindex ({data.get('lastindex')!r})")
            return PageResult(items, reported_total=total, has_more=True)
        return PageResult(items, reported_total=total, has_more=True, next_offset=last + 1)


def _sn_of(response: httpx.Response) -> int | None:
    """The ``sn`` the answered request asked for (``None`` for a bare test response)."""
    try:
        return parse_int(response.request.url.params.get("sn"))
    except RuntimeError:
        return None


def _item(entry: Any, n: int) -> ImageItem:
    """One ``list[]`` entry; an entry without an image fails the page (layout changed)."""
    if not isinstance(entry, dict) or not entry.get("img"):
        raise ParseError(f"list item #{n + 1} has no img")
    thumb = entry.get("thumb") or entry.get("_thumb") or entry.get("thumb_bak")
    title = strip_tags(str(entry.get("title") or ""))
    host = str(entry.get("dspurl") or "").lower().removeprefix("www.")
    return ImageItem(
        image_url=str(entry["img"]),
        thumb_url=str(thumb) if thumb else None,
        page_url=str(entry["link"]) if entry.get("link") else None,
        title=title or None,
        domain=host or None,
    ).with_domain()
