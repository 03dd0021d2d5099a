"""Sogou image search: the ``pic.sogou.com/pics?...&reqType=ajax`` JSON answer.

An answer has ``items[]`` (``pic_url_noredirect``/``ori_pic_url``/``pic_url`` image,
``thumbUrl``, ``page_url``, ``title``), ``totalItems`` (the headline count, printed
``8,587``: stored as the reported total), ``startIndex``, ``itemsOnPage`` and ``maxEnd`` (the
deepest reachable offset). ``isForbiden`` (sic) looks like a query-level refusal; what a
refused query returns has not been observed, so a non-null value with no items is ``Blocked``,
never zero. The anti-spider page lives under ``/antispider``. See PARSING.md §3 and §9.3.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import httpx

from monitor.core.errors import Blocked, ParseError
from monitor.core.logs import clip
from monitor.core.observation import ImageItem, PageResult
from monitor.sources.base import Source, SourceOptions
from monitor.sources.parsing import (
    browser_headers,
    host_of,
    load_json,
    parse_int,
    redirect_target,
    require_body,
    response_text,
    strip_tags,
)

logger = logging.getLogger(__name__)

PAGE_SIZE = 48  # Sogou's own page size (itemsOnPage); the legacy endpoint takes no size
_ANTISPIDER_TEXT = "我们的系统检测到您网络中存在异常访问请求"


def unwrap_redirect(url: str) -> str:
    """The target of a ``redirect.sogou.com/proxy?url=<base64>`` wrapper, else ``url``."""
    parts = urlsplit(url)
    if (parts.hostname or "").lower() != "redirect.sogou.com":
        return url
    encoded = parse_qs(parts.query).get("url", [""])[0]
    try:
        target = base64.b64decode(encoded + "=" * (-len(encoded) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return url
    return target if target.startswith(("http://", "https://")) else url


class SogouImages(Source):
    """Sogou image search (pic.sogou.com) legacy JSON answers."""

    kind: ClassVar[str] = "sogou_images"
    family: str = "chinese"
    default_base_url: ClassVar[str] = "https://pic.sogou.com"
    Options: ClassVar[type[SourceOptions]] = SourceOptions  # no kind-specific options

    def build_request(self, term: str, page: int) -> httpx.Request:
        url = self.url(self.default_base_url + "/pics")
        params: dict[str, str | int] = {
            "query": term,
            "start": page * PAGE_SIZE,
            "reqType": "ajax",
        }
        referer = str(httpx.URL(url, params={"query": term}))
        headers = browser_headers(
            self.options,
            accept="application/json, text/javascript, */*; q=0.01",
            referer=referer,
            **{"X-Requested-With": "XMLHttpRequest"},
        )
        return httpx.Request("GET", url, params=params, headers=headers)

    def parse(self, response: httpx.Response, page: int) -> PageResult:
        target = redirect_target(response)
        if "/antispider" in urlsplit(target).path:
            raise Blocked(f"redirected to anti-spider page {host_of(target)}/antispider")
        body = require_body(response_text(response))
        if _ANTISPIDER_TEXT in body:
            raise Blocked(f"anti-spider page ({_ANTISPIDER_TEXT})")
        return self._result(load_json(body), page)

    def _result(self, data: Any, page: int) -> PageResult:
        if not isinstance(data, dict):
            raise ParseError("answer is not a JSON object")
        raw = data.get("items")
        if not isinstance(raw, list):
            raise ParseError("no items list")
        if "totalItems" not in data:
            raise ParseError("no totalItems")
        total = parse_int(data.get("totalItems"))
        forbidden = data.get("isForbiden")
        items = tuple(_item(entry, n) for n, entry in enumerate(raw))
        if forbidden not in (None, False, 0, "", "0"):
            if not items:
                raise Blocked(f"query refused by Sogou (isForbiden={clip(repr(forbidden))})")
            logger.warning(
                "sogou answer has isForbiden=%s next to %d items", clip(repr(forbidden)), len(items)
            )
        if not items:
            if total == 0:
                return PageResult((), reported_total=0, no_results=page == 0)
            if page > 0:
                return PageResult((), reported_total=total)
            raise ParseError(f"empty items although totalItems={data.get('totalItems')!r}")
        start = parse_int(data.get("startIndex"))
        start = page * PAGE_SIZE if start is None else start
        # maxEnd is the deepest offset Sogou serves; totalItems can be smaller.
        limits = [n for n in (parse_int(data.get("maxEnd")), total) if n is not None]
        has_more = start + len(raw) < min(limits) if limits else len(raw) >= PAGE_SIZE
        return PageResult(items, reported_total=total, has_more=has_more)


def _item(entry: Any, n: int) -> ImageItem:
    """One ``items[]`` entry; an entry without any image URL fails the page."""
    if not isinstance(entry, dict):
        raise ParseError(f"item #{n + 1} is not an object")
    # pic_url is sometimes a redirect.sogou.com wrapper; the other two are the clear URL.
    image = entry.get("pic_url_noredirect") or entry.get("ori_pic_url") or entry.get("pic_url")
    if not image:
        raise ParseError(f"item #{n + 1} has no image URL")
    thumb = entry.get("thumbUrl") or entry.get("smallThumbUrl")
    title = strip_tags(str(entry.get("title") or entry.get("oriTitle") or ""))
    return ImageItem(
        image_url=unwrap_redirect(str(image)),
        thumb_url=str(thumb) if thumb else None,
        page_url=str(entry["page_url"]) if entry.get("page_url") else None,
        title=title or None,
    ).with_domain()
