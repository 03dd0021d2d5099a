"""Any site's own search page, configured with CSS selectors instead of code.

This is how a user adds a news site (Xinhua, People's Daily, SCMP) or a ministry's site
search. The config gives a URL template and selectors; the parser then:

1. raises ``Blocked`` when a ``blocked`` marker matches (checked first: a block page can
   contain anything);
2. returns the images of the elements matching ``item`` (an item without an image is a
   result but not an image, so it adds nothing to the count; results none of which has an
   image are a recognised answer with zero images: ``no_results``);
3. when no item matches, returns ``no_results`` only if a ``no_results`` marker matches, and
   raises ``ParseError`` otherwise: an unrecognised page is never zero.

A marker is a CSS selector (an element that must exist) or text (searched,
case-insensitively, in the page's visible text and title). ``css:`` and ``text:`` say which;
without a prefix, a marker that starts like a selector (``.no-result``, ``div#empty``,
``[data-empty]``) and compiles is one, anything else ("没有找到", "No results") is text.
The no-results marker is only consulted when no item matched, because sites often keep a
hidden "nothing found" template in every page; hidden elements never match a marker.
Relative URLs resolve against ``<base href>`` or the response URL.
"""

from __future__ import annotations

import codecs
import logging
import re
from typing import Annotated, Any, ClassVar
from urllib.parse import quote, urljoin

import httpx
import soupsieve
from bs4 import BeautifulSoup, Tag
from pydantic import BeforeValidator, Field, field_validator

from monitor.core.errors import Blocked, ParseError
from monitor.core.observation import ImageItem, PageResult
from monitor.core.urls import config_url
from monitor.sources.base import Source, SourceOptions
from monitor.sources.parsing import browser_headers, coerce_options, parse_int

logger = logging.getLogger(__name__)

_CSS = "css:"
_TEXT = "text:"
# An optional tag name followed by a class, id or attribute: ".x", "div#y", "[data-z]".
_SELECTOR_LIKE = re.compile(r"^[a-z][a-z0-9-]*[.#\[]|^[.#\[]")
_SPACE = re.compile(r"\s+")
_META_CHARSET = re.compile(rb"<meta[^>]+charset\s*=", re.IGNORECASE)


def _as_tuple(v: Any) -> Any:
    return (v,) if isinstance(v, str) else v


Markers = Annotated[tuple[str, ...], BeforeValidator(_as_tuple)]


def _check_selector(selector: str) -> str:
    try:
        soupsieve.compile(selector)
    except soupsieve.SelectorSyntaxError as exc:
        raise ValueError(f'"{selector}" is not a valid CSS selector: {exc}') from None
    return selector


class HtmlOptions(SourceOptions):
    """Selectors and markers describing one site's search result page."""

    url: str  # contains {query}; may contain {page} (1-based) and {offset} (page * page_size)
    encoding: str | None = None  # charset of the query in the URL and of pages declaring none
    page_size: int = Field(default=10, ge=1, le=1000)
    item: str
    image: str | None = None  # within an item; default: the first <img>
    image_attr: str = "src"  # falls back to data-src (lazy loading)
    link: str | None = None  # within an item; default: the item itself or its first <a>
    link_attr: str = "href"
    title: str | None = None  # within an item; default: the link's text, then the img alt
    next: str | None = None  # a "next page" element: its presence means there is more
    total: str | None = None  # element holding the reported total
    total_regex: str | None = None  # applied to that element's text (or the page text)
    no_results: Markers = ()
    blocked: Markers = ()
    family: str = Field(default="independent", min_length=1)
    # Text a complete page contains: without it the body was cut off and would under-count.
    end_marker: str | None = "</html>"

    @field_validator("url")
    @classmethod
    def _url_has_query(cls, v: str) -> str:
        if "{query}" not in v:
            raise ValueError("url must contain {query}")
        return config_url(v)

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                codecs.lookup(v)
            except LookupError:
                raise ValueError(f'unknown encoding "{v}"') from None
        return v

    @field_validator("item", "image", "link", "title", "next", "total")
    @classmethod
    def _valid_selector(cls, v: str | None) -> str | None:
        return None if v is None else _check_selector(v)

    @field_validator("total_regex")
    @classmethod
    def _valid_regex(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                groups = re.compile(v).groups
            except re.error as exc:
                raise ValueError(f"total_regex is not a valid regular expression: {exc}") from None
            if groups > 1:
                raise ValueError("total_regex must have at most one group (the number)")
        return v

    @field_validator("no_results", "blocked")
    @classmethod
    def _valid_markers(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for marker in v:
            if not marker.removeprefix(_CSS).removeprefix(_TEXT).strip():
                raise ValueError("a marker must not be empty")
            if marker.startswith(_CSS):
                _check_selector(marker[len(_CSS) :])
        return v


class HtmlSource(Source):
    """A site search page parsed with configured CSS selectors."""

    kind: ClassVar[str] = "html"
    family: str = "independent"
    default_base_url: ClassVar[str] = ""  # the url option is the whole address
    Options: ClassVar[type[SourceOptions]] = HtmlOptions
    options: HtmlOptions

    def configured_urls(self) -> list[str]:
        """``base_url`` and the configured ``url`` (see ``Source.configured_urls``)."""
        return [*super().configured_urls(), self.options.url]

    def __init__(self, name: str, options: SourceOptions) -> None:
        super().__init__(name, coerce_options(options, HtmlOptions))
        # Which independence group a site belongs to is the user's call (state media or not).
        self.family = self.options.family

    def keyed_on(self) -> str:
        o = self.options
        shown = {"item": o.item, "image": o.image or "<img>", "link": o.link or "<a>"}
        shown |= {k: v for k, v in (("title", o.title), ("total", o.total)) if v}
        marks = f"no_results {list(o.no_results)}, blocked {list(o.blocked)}"
        return ", ".join(f"{k} {v!r}" for k, v in shown.items()) + f"; {marks}"

    def page_url(self, term: str, page: int) -> str:
        """The search URL for ``term`` and ``page`` (before ``base_url`` is applied)."""
        o = self.options
        query = quote(term, safe="", encoding=o.encoding or "utf-8", errors="strict")
        return (
            o.url.replace("{query}", query)
            .replace("{page}", str(page + 1))
            .replace("{offset}", str(page * o.page_size))
        )

    def build_request(self, term: str, page: int) -> httpx.Request:
        headers = browser_headers(self.options, accept="text/html,application/xhtml+xml,*/*;q=0.8")
        return httpx.Request("GET", self.url(self.page_url(term, page)), headers=headers)

    def parse(self, response: httpx.Response, page: int) -> PageResult:
        o = self.options
        if not response.content.strip():
            raise ParseError("empty body")
        soup = BeautifulSoup(_markup(response, o.encoding), "lxml")
        found = soup.select(o.item)
        base = _base_url(soup, response)
        items = [i for el in found if (i := self._item(el, base)) is not None]
        more = soup.select_one(o.next) is not None if o.next else self._full_page(len(found))
        # Markers and totals are read from what a visitor sees: hidden templates ("nothing
        # found", a captcha dialog) sit in many normal pages and must not match.
        _drop_hidden(soup)
        text = _SPACE.sub(" ", soup.get_text(" ", strip=True))
        marker = _first_match(o.blocked, soup, text)
        if marker is not None:
            raise Blocked(f"block marker matched: {marker}")
        tail = response.content[-4096:].lower()
        if o.end_marker and o.end_marker.lower().encode() not in tail:
            raise ParseError(f"no {o.end_marker} at the end: truncated, or not an HTML page")
        total = self._total(soup, text)
        if not found:
            marker = _first_match(o.no_results, soup, text)
            if marker is not None:
                return PageResult(items=(), reported_total=total, no_results=True)
            raise ParseError(f'no element matches item "{o.item}" and no no-results marker')
        if not items:
            logger.debug("%s: %d results, none with an image", self.name, len(found))
            return PageResult(items=(), reported_total=total, no_results=True)
        return PageResult(items=tuple(items), reported_total=total, has_more=more)

    def _full_page(self, found: int) -> bool:
        """Without a ``next`` selector: a paged URL that returned a full page may have more."""
        o = self.options
        return ("{page}" in o.url or "{offset}" in o.url) and found >= o.page_size

    def _item(self, el: Tag, base: str) -> ImageItem | None:
        o = self.options
        img = _pick(el, o.image, "img")
        src = _image_src(img, o.image_attr) if img is not None else None
        if src is None:
            return None
        link = _pick(el, o.link, "a")
        href = link.get(o.link_attr) if link is not None else None
        page_url = urljoin(base, href.strip()) if isinstance(href, str) and href.strip() else None
        title_el = el.select_one(o.title) if o.title else link
        title = _SPACE.sub(" ", title_el.get_text()).strip() if title_el else ""
        if not title and img is not None:
            alt = img.get("alt") or img.get("title")
            title = _SPACE.sub(" ", alt).strip() if isinstance(alt, str) else ""
        return ImageItem(image_url=urljoin(base, src), page_url=page_url, title=title or None)

    def _total(self, soup: BeautifulSoup, text: str) -> int | None:
        o = self.options
        if o.total is None and o.total_regex is None:
            return None
        if o.total is not None:
            el = soup.select_one(o.total)
            if el is None:
                return None
            text = _SPACE.sub(" ", el.get_text(" ", strip=True))
        if o.total_regex is not None:
            m = re.search(o.total_regex, text)
            if m is None:
                return None
            text = m.group(1) if m.groups() else m.group(0)
        return parse_int(text)

    def describe(self) -> str:
        return f"{self.name} ({self.kind}, {self.options.url.split('?', 1)[0]})"


def _markup(response: httpx.Response, encoding: str | None) -> str | bytes:
    """The body for the parser, decoded by the first charset found in: the header, a
    ``<meta>`` tag (left to the parser: GBK news sites often declare it only there), the
    ``encoding`` option. With none of them the parser guesses from the bytes."""
    if response.charset_encoding:
        return response.text
    if _META_CHARSET.search(response.content[:4096]) or not encoding:
        return response.content
    return response.content.decode(encoding, errors="replace")


def _base_url(soup: BeautifulSoup, response: httpx.Response) -> str:
    try:
        url = str(response.url)
    except RuntimeError:  # a Response built without a request
        url = ""
    base = soup.find("base", href=True)
    href = base.get("href") if isinstance(base, Tag) else None
    return urljoin(url, href) if isinstance(href, str) else url


def _drop_hidden(soup: BeautifulSoup) -> None:
    """Remove elements hidden inline (``hidden``, ``display:none``, ``<template>``)."""
    for el in soup.select('[hidden], template, [style*="display:none"], [style*="display: none"]'):
        if not el.decomposed:  # a hidden element inside another one went with its parent
            el.decompose()


def _pick(el: Tag, selector: str | None, default_tag: str) -> Tag | None:
    if selector:
        return el.select_one(selector)
    if el.name == default_tag:
        return el
    found = el.find(default_tag)
    return found if isinstance(found, Tag) else None


def _image_src(img: Tag, attr: str) -> str | None:
    for name in (attr, "data-src"):
        value = img.get(name)
        # Lazy-loading pages put a placeholder (data: URI) in src and the image in data-src.
        if isinstance(value, str) and value.strip() and not value.strip().startswith("data:"):
            return value.strip()
    return None


def marker_selector(marker: str) -> str | None:
    """The CSS selector a marker stands for, or ``None`` when it is text."""
    if marker.startswith(_CSS):
        return marker[len(_CSS) :].strip()
    if marker.startswith(_TEXT) or not _SELECTOR_LIKE.match(marker):
        return None
    try:
        soupsieve.compile(marker)
    except soupsieve.SelectorSyntaxError:
        return None  # "3.5 million", "a.m." and the like: text after all
    return marker


def _first_match(markers: tuple[str, ...], soup: BeautifulSoup, text: str) -> str | None:
    folded = text.casefold()
    for marker in markers:
        selector = marker_selector(marker)
        if selector is not None:
            if soup.select_one(selector) is not None:
                return marker
            continue
        needle = _SPACE.sub(" ", marker.removeprefix(_TEXT)).strip().casefold()
        if needle in folded:
            return marker
    return None
