"""Baidu image search (image.baidu.com): the ``acjson`` JSON endpoint or the ``flip`` page.

Both answers carry the same object: ``data[]`` items, the last of which is an empty ``{}``,
usually with top-level ``displayNum`` (the headline "约N张", stored as the reported total)
and ``listNum`` (the browsable list). ``displayNum`` is optional: current public code
(SearXNG ``searx/engines/baidu.py`` at b084194c, June 2026) never reads it, so an answer
without it is still ``ok`` with its items and an unknown (not zero) total.

Baidu blocks with HTTP 200: ``{"antiFlag":1,...}``, a redirect to ``wappass.baidu.com``, or
the small "百度安全验证" page. ``antiFlag`` is what ``acjson`` answers a client without the
session cookies of ``image.baidu.com/`` (SearXNG b084194c: warm up on the home page, keep
the cookies an hour), so it is ``SessionExpired``: the check warms up again once, and only
then is it ``blocked``. ``session_max_age`` (1 h) renews the cookies before they go stale.
See PARSING.md §1 and §9.1.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import timedelta
from typing import Any, ClassVar, Literal

import httpx
from pydantic import Field

from monitor.core.errors import Blocked, ParseError, SessionExpired
from monitor.core.observation import ImageItem, PageResult
from monitor.sources.base import Duration, Source, SourceOptions
from monitor.sources.parsing import (
    browser_headers,
    coerce_options,
    host_of,
    load_json,
    parse_int,
    redirect_target,
    require_body,
    response_text,
    strip_tags,
)

logger = logging.getLogger(__name__)

# The objURL/fromURL obfuscation: three multi-character tokens, then a letter/digit
# substitution (test vector in YXL76/BaiduImagesDownload tests/test_Crawler.py).
_OBJURL_TOKENS = (("_z2C$q", ":"), ("_z&e3B", "."), ("AzdH3F", "/"))
_OBJURL_TABLE = str.maketrans(
    "0123456789abcdefghijklmnopqrstuvw", "7dgjmoru140852vsnkheb963wtqplifca"
)
# Baidu's encoder writes \' which JSON forbids; drop the backslash unless it is itself escaped.
_BAD_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\'")
_IMGDATA = re.compile(r"""flip\.setData\(\s*['"]imgData['"]\s*,\s*""")
_CAPTCHA_HOSTS = ("wappass.baidu.com",)
_CAPTCHA_MARKERS = ("<title>百度安全验证</title>", "wappass.baidu.com/static/machine/js/api/mkd.js")


def decode_objurl(url: str) -> str | None:
    """The clear URL behind an obfuscated ``objURL``/``fromURL`` (``ippr_z2C$q...``).

    A URL that is already clear (the ``flip`` page's ``objURL``) is returned as is; anything
    that does not decode to an http(s) URL gives ``None``.
    """
    url = url.strip()
    if url.startswith(("http://", "https://")):
        return url
    if not url.startswith("ippr"):
        return None
    for token, plain in _OBJURL_TOKENS:
        url = url.replace(token, plain)
    clear = url.translate(_OBJURL_TABLE)
    return clear if clear.startswith(("http://", "https://")) else None


class BaiduOptions(SourceOptions):
    """Baidu options: which endpoint to read, how many results per page, and how long the
    home page's session cookies are trusted before they are fetched again."""

    endpoint: Literal["html", "acjson"] = "acjson"
    rn: int = Field(default=30, ge=1, le=60)  # page size Baidu's own page requests
    session_max_age: Duration = Field(default=timedelta(hours=1), gt=timedelta(0))


class BaiduImages(Source):
    """Baidu image search; ``warmup_request`` fetches the home page for session cookies."""

    kind: ClassVar[str] = "baidu_images"
    family: str = "chinese"
    default_base_url: ClassVar[str] = "https://image.baidu.com"
    Options: ClassVar[type[SourceOptions]] = BaiduOptions
    options: BaiduOptions

    def __init__(self, name: str, options: SourceOptions) -> None:
        super().__init__(name, coerce_options(options, BaiduOptions))

    def warmup_request(self) -> httpx.Request:
        # Without the cookies handed out here acjson answers antiFlag (searxng #6314).
        headers = browser_headers(self.options, accept="text/html,application/xhtml+xml,*/*;q=0.8")
        return httpx.Request("GET", self.url(self.default_base_url + "/"), headers=headers)

    def session_max_age(self) -> timedelta:
        return self.options.session_max_age

    def keyed_on(self) -> str:
        where = (
            "acjson JSON" if self.options.endpoint == "acjson" else "flip.setData('imgData') page"
        )
        return (
            f"{where}: data[] (thumbURL, objURL or replaceUrl[0].ObjURL, fromURL, "
            "fromPageTitle, fromURLHost); total displayNum (optional), paging listNum; "
            "antiFlag, wappass.baidu.com, 百度安全验证"
        )

    def build_request(self, term: str, page: int) -> httpx.Request:
        o = self.options
        offset = page * o.rn
        referer = str(
            httpx.URL(
                self.url(self.default_base_url + "/search/index"),
                params={"tn": "baiduimage", "ie": "utf-8", "word": term},
            )
        )
        if o.endpoint == "html":
            params: dict[str, str | int] = {
                "tn": "baiduimage",
                "ie": "utf-8",
                "word": term,
                "pn": offset,
                "rn": o.rn,
            }
            url = self.url(self.default_base_url + "/search/flip")
            headers = browser_headers(
                o, accept="text/html,application/xhtml+xml,*/*;q=0.8", referer=referer
            )
        else:
            # The page's own XHR parameters and Accept: with fewer, or the HTML Accept,
            # Baidu answered "Forbid spider access" (PARSING.md §9.1).
            params = {
                "tn": "resultjson_com",
                "ipn": "rj",
                "ct": 201326592,
                "fp": "result",
                "queryWord": term,
                "word": term,
                "cl": 2,
                "lm": -1,
                "ie": "utf-8",
                "oe": "utf-8",
                "st": -1,
                "ic": 0,
                "face": 0,
                "istype": 2,
                "nc": 1,
                "pn": offset,
                "rn": o.rn,
                "gsm": format(offset, "x"),
            }
            url = self.url(self.default_base_url + "/search/acjson")
            headers = browser_headers(
                o,
                accept="text/plain, */*; q=0.01",
                referer=referer,
                **{"X-Requested-With": "XMLHttpRequest"},
            )
        return httpx.Request("GET", url, params=params, headers=headers)

    def parse(self, response: httpx.Response, page: int) -> PageResult:
        target = redirect_target(response)
        if host_of(target) in _CAPTCHA_HOSTS or "/static/captcha" in target:
            raise Blocked(f"redirected to captcha host {host_of(target) or target}")
        body = require_body(response_text(response))
        for marker in _CAPTCHA_MARKERS:
            if marker in body:
                raise Blocked(f"verification page ({marker})")
        if self.options.endpoint == "html":
            data = _imgdata_from_page(body)
        else:
            data = load_json(_BAD_ESCAPE.sub(r"\1'", body), strict=False)
        return self._result(data, page)

    def _result(self, data: Any, page: int) -> PageResult:
        if not isinstance(data, dict):
            raise ParseError("answer is not a JSON object")
        if data.get("antiFlag") == 1 or ("antiFlag" in data and "data" not in data):
            message = str(data.get("message", ""))[:100]
            raise SessionExpired(f"antiFlag={data.get('antiFlag')}: {message}".strip())
        raw = data.get("data")
        if not isinstance(raw, list):
            raise ParseError("no data list")
        display = parse_int(data.get("displayNum"))  # optional: None is "not said", not 0
        listed = parse_int(data.get("listNum"))
        items = tuple(item for entry in raw if (item := _item(entry)) is not None)
        if not items:
            # A recognised empty answer says so in its counts; an empty list next to a
            # positive count is not "nothing found" (soft block, layout change, paging past
            # the end), so it is only accepted as the end of paging after page 0.
            if display == 0 or listed == 0:
                return PageResult((), reported_total=display, no_results=page == 0)
            if page > 0:
                return PageResult((), reported_total=display)
            if display is None:
                raise ParseError("data has no items and no count says there are none")
            raise ParseError(f"data has no items although displayNum={display}")
        offset = page * self.options.rn
        # listNum is how far Baidu lets anyone page; without it, a full page suggests more.
        if listed is not None:
            has_more = offset + len(items) < listed
        else:
            has_more = len(items) >= self.options.rn
        return PageResult(items, reported_total=display, has_more=has_more)


def _imgdata_from_page(body: str) -> Any:
    """The object passed to ``flip.setData('imgData', ...)`` on a result page."""
    m = _IMGDATA.search(body)
    if not m:
        raise ParseError("no flip.setData('imgData') on the page")
    text = _BAD_ESCAPE.sub(r"\1'", body[m.end() :])
    try:
        data, _ = json.JSONDecoder(strict=False).raw_decode(text)
    except json.JSONDecodeError as exc:
        raise ParseError(f"imgData is not valid JSON (truncated?): {exc.msg}") from None
    except (RecursionError, ValueError):  # nested past the limit, a 4,300-digit number
        raise ParseError("imgData is not JSON a reader can hold (too deep or too long)") from None
    return data


def _item(entry: Any) -> ImageItem | None:
    """One ``data[]`` entry; ``None`` for the trailing ``{}`` and other non-results."""
    if not isinstance(entry, dict) or not entry.get("thumbURL"):
        return None
    replace = entry.get("replaceUrl") or [{}]
    first = replace[0] if isinstance(replace, list) and isinstance(replace[0], dict) else {}
    # Prefer the decoded objURL: it is the publisher's own file, while replaceUrl's ObjURL
    # is often Baidu's cached copy on imgtn.bdimg.com (see the acjson sample).
    image = (
        decode_objurl(str(entry.get("objURL") or ""))
        or first.get("ObjURL")
        or entry.get("middleURL")
        or entry["thumbURL"]
    )
    page_url = first.get("FromURL") or decode_objurl(str(entry.get("fromURL") or ""))
    title = entry.get("fromPageTitle") or entry.get("fromPageTitleEnc") or ""
    host = str(entry.get("fromURLHost") or "").lower().removeprefix("www.")
    return ImageItem(
        image_url=str(image),
        thumb_url=str(entry["thumbURL"]),
        page_url=str(page_url) if page_url else None,
        title=strip_tags(str(title)) or None,
        domain=host or None,
    ).with_domain()
