"""Sogou image search (pic.sogou.com): the result page or the ``napi`` JSON endpoint.

The legacy ``/pics?…&reqType=ajax`` JSON is gone (no public code has used it since 2020);
current scrapers read one of two answers, chosen by the ``endpoint`` option:

- ``page`` (default): ``/pics?query=…&start=…``, an HTML page whose results are embedded as
  ``window.__INITIAL_STATE__ = {…}`` under ``searchList.searchList[]`` (``picUrl`` image,
  ``url`` page, ``title``, ``ch_site_name``). SearXNG ``searx/engines/sogou_images.py``.
- ``napi``: ``/napi/pc/searchList?mode=1&start=…&xml_len=48&query=…`` with the page as
  ``Referer`` and the time in ``X-Time4p``, JSON with ``data.items[]`` (``picUrl``,
  ``oriPicUrl``, ``thumbUrl``, ``locImageLink``) and a top-level ``status``. Reported to
  answer "forbid" to scrapers; that answer is ``Blocked``.

Neither answer states a total that current code reads, so none is stored. "Nothing found" is
an empty list next to a positive signal: on the page, Sogou's no-results sentence; from
``napi``, ``status`` 0. Any other empty answer is a ``ParseError``, never zero. The anti-spider
page lives under ``/antispider`` and carries a known sentence (PARSING.md §9.3).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from typing import Any, ClassVar, Literal
from urllib.parse import parse_qs, urlsplit

import httpx
from pydantic import Field, field_validator

from monitor.core.clock import Clock, utcnow
from monitor.core.errors import Blocked, ParseError
from monitor.core.logs import clip
from monitor.core.observation import ImageItem, PageResult
from monitor.sources.base import Source, SourceOptions
from monitor.sources.parsing import (
    browser_headers,
    coerce_options,
    host_of,
    load_json,
    redirect_target,
    require_body,
    response_text,
    strip_tags,
)

logger = logging.getLogger(__name__)

PAGE_SIZE = 48  # Sogou's page size on both endpoints (``xml_len``; 48 items on a page)
_ANTISPIDER_TEXT = "我们的系统检测到您网络中存在异常访问请求"
_STATE = re.compile(r"window\.__INITIAL_STATE__\s*=\s*")
# Sogou's own wording for "nothing found" ("抱歉，没有找到与“…”相关的…"); a user can add others.
DEFAULT_NO_RESULTS_MARKERS = ("没有找到与",)
_GONE = ("ajax", "reqtype=ajax", "legacy", "pics")


class SogouOptions(SourceOptions):
    """Sogou options: which answer to read and the sentences that mean "nothing found"."""

    endpoint: Literal["page", "napi"] = "page"
    no_results_markers: tuple[str, ...] = Field(default=DEFAULT_NO_RESULTS_MARKERS, min_length=1)

    @field_validator("endpoint", mode="before")
    @classmethod
    def _not_the_dead_endpoint(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() in _GONE:
            raise ValueError(
                f'"{value}" (pics?reqType=ajax) is no longer served by Sogou; '
                "use page (the default) or napi"
            )
        return value


def unwrap_redirect(url: str) -> str:
    """The target of a ``redirect.sogou.com/proxy?url=<base64>`` wrapper, else ``url``."""
    if host_of(url) != "redirect.sogou.com":
        return url
    parts = urlsplit(url)
    encoded = parse_qs(parts.query).get("url", [""])[0]
    try:
        target = base64.b64decode(encoded + "=" * (-len(encoded) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return url
    return target if target.startswith(("http://", "https://")) else url


class SogouImages(Source):
    """Sogou image search (pic.sogou.com): result page state or ``napi`` JSON."""

    kind: ClassVar[str] = "sogou_images"
    keys: ClassVar[str] = (
        "page: window.__INITIAL_STATE__ searchList.searchList[] (picUrl, url, title, "
        "ch_site_name); napi: data.items[] (picUrl, oriPicUrl, thumbUrl, locImageLink)"
    )
    family: str = "chinese"
    default_base_url: ClassVar[str] = "https://pic.sogou.com"
    Options: ClassVar[type[SourceOptions]] = SogouOptions
    options: SogouOptions

    def __init__(self, name: str, options: SourceOptions, *, clock: Clock = utcnow) -> None:
        super().__init__(name, coerce_options(options, SogouOptions))
        self.clock = clock  # napi requests carry the time they were built (X-Time4p)

    def build_request(self, term: str, page: int) -> httpx.Request:
        start = page * PAGE_SIZE
        page_url = self.url(self.default_base_url + "/pics")
        if self.options.endpoint == "page":
            headers = browser_headers(
                self.options,
                accept="text/html,application/xhtml+xml,*/*;q=0.8",
                referer=self.url(self.default_base_url + "/"),
            )
            params: dict[str, str | int] = {"query": term, "start": start}
            return httpx.Request("GET", page_url, params=params, headers=headers)
        # The XHR the result page sends while scrolling; the page is its Referer.
        params = {"mode": 1, "start": start, "xml_len": PAGE_SIZE, "query": term}
        # Current napi clients send the time in ms as the page's own XHR does (slowlyo/meme
        # api.go @3aa32fe1; a Vue client, code-index file id 23539697095).
        millis = int(self.clock().timestamp() * 1000)
        headers = browser_headers(
            self.options,
            accept="application/json, text/plain, */*",
            referer=str(httpx.URL(page_url, params={"query": term})),
            **{"X-Time4p": str(millis)},
        )
        url = self.url(self.default_base_url + "/napi/pc/searchList")
        return httpx.Request("GET", url, params=params, headers=headers)

    def parse(self, response: httpx.Response, page: int) -> PageResult:
        target = redirect_target(response)
        if "/antispider" in urlsplit(target).path:
            raise Blocked(f"redirected to anti-spider page {host_of(target)}/antispider")
        body = require_body(response_text(response))
        if _ANTISPIDER_TEXT in body:
            raise Blocked(f"anti-spider page ({_ANTISPIDER_TEXT})")
        if self.options.endpoint == "page":
            return self._page(body, page)
        return self._napi(body, page)

    def _page(self, body: str, page: int) -> PageResult:
        if body.startswith(("{", "[")):
            raise ParseError("JSON where the result page was expected")
        m = _STATE.search(body)
        if not m:
            raise ParseError("no window.__INITIAL_STATE__ on the page")
        try:
            state, _ = json.JSONDecoder().raw_decode(body[m.end() :])
        except json.JSONDecodeError as exc:
            raise ParseError(f"__INITIAL_STATE__ is not JSON (truncated?): {exc.msg}") from None
        except (RecursionError, ValueError):  # nested past the limit, a 4,300-digit number
            raise ParseError("__INITIAL_STATE__ is too deep or too long to read") from None
        box = state.get("searchList") if isinstance(state, dict) else None
        raw = box.get("searchList") if isinstance(box, dict) else None
        if not isinstance(raw, list):
            raise ParseError("no searchList.searchList in __INITIAL_STATE__")
        if not raw:
            if any(marker in body for marker in self.options.no_results_markers):
                return PageResult((), no_results=page == 0)
            if page > 0:
                return PageResult(())  # paged past the last result
            raise ParseError("empty searchList and no no-results message")
        items = _items(raw)
        return PageResult(items, has_more=len(raw) >= PAGE_SIZE)

    def _napi(self, body: str, page: int) -> PageResult:
        if not body.startswith(("{", "[", "<")) and "forbid" in body[:200].lower():
            raise Blocked(f"napi refused the query ({body[:60]!r})")
        data = load_json(body)
        if not isinstance(data, dict):
            raise ParseError("answer is not a JSON object")
        status = data.get("status")
        payload = data.get("data")
        raw = payload.get("items") if isinstance(payload, dict) else None
        if not isinstance(raw, list):
            said = " ".join(str(data.get(k) or "") for k in ("info", "msg", "message"))
            if "forbid" in said.lower() or status not in (None, 0, "0"):
                said = clip(f"status={status!r} {said.strip()}".strip())  # scraped: bounded
                raise Blocked(f"napi refused the query ({said})")
            raise ParseError("no data.items list")
        if not raw:
            # Only an answer that says it succeeded (status 0) with nothing in it is empty.
            if page == 0 and status in (0, "0"):
                return PageResult((), no_results=True)
            if page > 0:
                return PageResult(())
            raise ParseError(f"empty data.items with status={clip(repr(status))}")
        return PageResult(_items(raw), has_more=len(raw) >= PAGE_SIZE)


def _items(raw: list[Any]) -> tuple[ImageItem, ...]:
    """The results of one list; entries without an image URL are skipped, but a list in which
    no entry has one is not a list of results (``ParseError``)."""
    items = tuple(item for entry in raw if (item := _item(entry)) is not None)
    if not items:
        raise ParseError(f"none of the {len(raw)} entries has an image URL")
    if len(items) < len(raw):
        skipped = len(raw) - len(items)
        logger.debug("sogou: %d of %d entries without an image URL", skipped, len(raw))
    return items


def _item(entry: Any) -> ImageItem | None:
    """One entry of either answer (both use the same field names)."""
    if not isinstance(entry, dict):
        return None
    # picUrl is what SearXNG shows as the image; oriPicUrl and locImageLink (Sogou's copy)
    # stand in when it is missing.
    image = entry.get("picUrl") or entry.get("oriPicUrl") or entry.get("locImageLink")
    if not image or not isinstance(image, str):
        return None
    thumb = entry.get("thumbUrl") or entry.get("locImageLink")
    page_url = entry.get("url") or entry.get("page_url")
    title = strip_tags(str(entry.get("title") or ""))
    return ImageItem(
        image_url=unwrap_redirect(image),
        thumb_url=str(thumb) if thumb else None,
        page_url=str(page_url) if page_url else None,
        title=title or None,
    ).with_domain()
