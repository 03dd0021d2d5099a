"""Any site's own search page, or a fixed page, configured with CSS selectors instead of code.

This is how a user adds a news site (People's Daily, SCMP) or a ministry's site search. The
config gives a URL template and selectors. With ``fixed_page: true`` the URL has no
``{query}``: it is a fixed page (a ministry's leaders or spokesperson page), the same for
every term, whose items count
only when their text (or an image's alt or title) mentions the term, as a feed's entries
do; a recognised page none of whose items mentions the term is ``no_results``, which is how
a name quietly taken off such a page shows. The parser then:

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

The page is read with lxml; selectors are CSS as cssselect translates it to XPath
(``sources.css``: CSS 3 with ``:has()``, ``:is()``, ``:contains()``; soupsieve-only forms
such as ``:-soup-contains()``, ``:scope`` or ``:nth-child(2 of .x)`` are refused at config
load with the reason). Within an item, ``image``, ``link`` and ``title`` take the item's
first descendant matching in the whole page, as soupsieve did.
"""

from __future__ import annotations

import codecs
import logging
import re
from typing import Annotated, Any, ClassVar
from urllib.parse import quote

import httpx
from lxml import etree
from pydantic import BeforeValidator, Field, field_validator, model_validator

from monitor.core.errors import Blocked, ParseError
from monitor.core.observation import ImageItem, PageResult
from monitor.core.urls import config_url
from monitor.sources.base import Source, SourceOptions
from monitor.sources.css import compiled, select
from monitor.sources.feed import TERM_EXTENSION, mentions
from monitor.sources.markup import (
    CSS,
    SPACE,
    TEXT,
    base_url_of,
    decoded_markup,
    drop_hidden,
    first_match,
    image_src,
    joined,
    outermost,
    pick,
    text_of,
    within,
)
from monitor.sources.parsing import browser_headers, coerce_options, parse_int
from monitor.sources.tree import html_tree

logger = logging.getLogger(__name__)


def _as_tuple(v: Any) -> Any:
    return (v,) if isinstance(v, str) else v


Markers = Annotated[tuple[str, ...], BeforeValidator(_as_tuple)]


def _check_selector(selector: str) -> str:
    compiled(selector)  # ValueError: one line naming the selector and the problem
    return selector


class HtmlOptions(SourceOptions):
    """Selectors and markers describing one site's search result page."""

    # contains {query} (none with fixed_page); may contain {page} (1-based) and {offset}
    # (page * page_size)
    url: str
    fixed_page: bool = False  # the same page for every term: items must mention it
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
    def _url_is_config_url(cls, v: str) -> str:
        return config_url(v)

    @model_validator(mode="after")
    def _query_unless_fixed(self) -> HtmlOptions:
        if ("{query}" in self.url) == self.fixed_page:
            raise ValueError(
                "url must contain {query}, unless fixed_page is true (then it must not)"
            )
        return self

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
            if not marker.removeprefix(CSS).removeprefix(TEXT).strip():
                raise ValueError("a marker must not be empty")
            if marker.startswith(CSS):
                _check_selector(marker[len(CSS) :])
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
        url = self.url(self.page_url(term, page))
        return httpx.Request("GET", url, headers=headers, extensions={TERM_EXTENSION: term})

    def parse(self, response: httpx.Response, page: int) -> PageResult:
        o = self.options
        if not response.content.strip():
            raise ParseError("empty body")
        root = html_tree(decoded_markup(response, o.encoding))
        # An item inside another is the same result: a page whose items never close would
        # otherwise have every item read its whole subtree, quadratic in the page's size.
        listed = outermost(select(root, o.item))
        found = listed
        if o.fixed_page:  # only the items that mention the term count
            term = response.request.extensions.get(TERM_EXTENSION)
            if not isinstance(term, str) or not term.strip():
                raise ParseError("the request does not carry the term (extensions dropped?)")
            found = [el for el in listed if mentions(term, _markup(el), *_alts(el))]
        base = base_url_of(root, response)
        # Each selector within an item runs once over the page; an item takes its first
        # match inside it (the items are disjoint, so the page is walked once in all).
        inner = {k: set(select(root, v)) for k, v in self._inner().items() if found}
        items = [i for el in found if (i := self._item(el, base, inner)) is not None]
        more = bool(select(root, o.next)) if o.next else self._full_page(len(found))
        # Markers and totals are read from what a visitor sees: hidden templates ("nothing
        # found", a captcha dialog) sit in many normal pages and must not match.
        drop_hidden(root)
        text = text_of(root, " ")
        marker = first_match(o.blocked, root, text)
        if marker is not None:
            raise Blocked(f"block marker matched: {marker}")
        tail = response.content[-4096:].lower()
        if o.end_marker and o.end_marker.lower().encode() not in tail:
            raise ParseError(f"no {o.end_marker} at the end: truncated, or not an HTML page")
        total = self._total(root, text)
        if not listed:
            marker = first_match(o.no_results, root, text)
            if marker is not None:
                return PageResult(items=(), reported_total=total, no_results=True)
            raise ParseError(f'no element matches item "{o.item}" and no no-results marker')
        if not items:
            logger.debug("%s: %d results, none with an image", self.name, len(found))
            # (on a fixed page: listed items, none mentioning the term, is also no image)
            return PageResult(items=(), reported_total=total, no_results=True)
        return PageResult(items=tuple(items), reported_total=total, has_more=more)

    def _inner(self) -> dict[str, str]:
        """The selectors read inside an item, by what they pick."""
        o = self.options
        named = {"image": o.image, "link": o.link, "title": o.title}
        return {k: v for k, v in named.items() if v}

    def _full_page(self, found: int) -> bool:
        """Without a ``next`` selector: a paged URL that returned a full page may have more."""
        o = self.options
        return ("{page}" in o.url or "{offset}" in o.url) and found >= o.page_size

    def _item(
        self, el: etree._Element, base: str, inner: dict[str, set[etree._Element]]
    ) -> ImageItem | None:
        o = self.options
        img = pick(el, inner.get("image"), "img")
        src = image_src(img, o.image_attr) if img is not None else None
        if src is None:
            return None
        link = pick(el, inner.get("link"), "a")
        href = link.get(o.link_attr) if link is not None else None
        page_url = joined(base, href.strip()) if isinstance(href, str) and href.strip() else None
        title_el = within(el, inner["title"]) if "title" in inner else link
        title = text_of(title_el) if title_el is not None else ""
        if not title and img is not None:
            alt = img.get("alt") or img.get("title")
            title = SPACE.sub(" ", alt).strip() if isinstance(alt, str) else ""
        return ImageItem(image_url=joined(base, src), page_url=page_url, title=title or None)

    def _total(self, root: etree._Element, text: str) -> int | None:
        o = self.options
        if o.total is None and o.total_regex is None:
            return None
        if o.total is not None:
            matches = select(root, o.total)
            if not matches:
                return None
            text = text_of(matches[0], " ")
        if o.total_regex is not None:
            m = re.search(o.total_regex, text)
            if m is None:
                return None
            text = m.group(1) if m.groups() else m.group(0)
        return parse_int(text)

    def describe(self) -> str:
        return f"{self.name} ({self.kind}, {self.options.url.split('?', 1)[0]})"


def _markup(el: etree._Element) -> str:
    """``el`` as HTML (``mentions`` strips the tags), without the text that follows it."""
    return etree.tostring(el, encoding="unicode", method="html", with_tail=False)


def _alts(el: etree._Element) -> list[str]:
    """The alt and title texts of the images in ``el`` (a portrait's name is often only there)."""
    found = (img.get(name) for img in el.iterdescendants("img") for name in ("alt", "title"))
    return [v for v in found if v]
