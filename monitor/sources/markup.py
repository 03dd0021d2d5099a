"""HTML helpers of the ``html`` source (``sources.webpage``): decoding a page, its base URL,
what a visitor sees (hidden elements dropped), picking elements and image sources, and the
markers (a CSS selector or text) that say "blocked" or "nothing found". They work on lxml's
tree (``sources.tree``) with selectors compiled by ``sources.css``."""

from __future__ import annotations

import codecs
import re
from urllib.parse import urljoin

import httpx
from lxml import etree

from monitor.sources.css import is_selector, select
from monitor.sources.tree import drop, visible_text

CSS = "css:"
TEXT = "text:"
# An optional tag name followed by a class, id or attribute: ".x", "div#y", "[data-z]".
_SELECTOR_LIKE = re.compile(r"^[a-z][a-z0-9-]*[.#\[]|^[.#\[]")
SPACE = re.compile(r"\s+")
# The charset a page declares: in a <meta> tag, or in an XML declaration at its start.
_DECLARED = re.compile(
    rb"<meta[^>]+charset\s*=\s*[\"']?\s*([-\w.:]+)|\A\s*<\?xml[^>]*encoding\s*=\s*[\"']([-\w.:]+)",
    re.IGNORECASE,
)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Labels browsers read as GBK (WHATWG encoding standard); GB18030 decodes all of GBK.
_GBK = frozenset(["gb2312", "gbk", "x-gbk", "chinese", "csgb2312", "gb_2312-80", "gb18030"])
_HIDDEN = '[hidden], template, [style*="display:none"], [style*="display: none"]'


def decoded_markup(response: httpx.Response, encoding: str | None) -> str:
    """The body as text, decoded by the first charset found in: the header, a byte-order
    mark, a ``<meta>`` tag or XML declaration (GBK news sites often declare it only there),
    the ``encoding`` option. With none of them: UTF-8 if the bytes are UTF-8, else GB18030
    (undeclared Chinese pages), else Windows-1252, the order BeautifulSoup tried."""
    if response.charset_encoding:
        return response.text
    content = response.content
    for bom, codec in _BOMS:
        if content.startswith(bom):
            return content.decode(codec, errors="replace")
    m = _DECLARED.search(content[:4096])
    declared = _codec((m.group(1) or m.group(2)).decode("ascii")) if m else None
    if declared is None and m is None and encoding:
        declared = _codec(encoding)
    if declared is not None:
        return content.decode(declared, errors="replace")
    for guess in ("utf-8", "gb18030"):
        try:
            return content.decode(guess)
        except UnicodeDecodeError:
            continue
    return content.decode("windows-1252", errors="replace")


def _codec(label: str) -> str | None:
    """Python's codec for a charset label, or ``None`` for a label that names none."""
    label = label.strip().lower()
    if label in _GBK:
        return "gb18030"
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def outermost(elements: list[etree._Element]) -> list[etree._Element]:
    """``elements`` (in document order) without those inside an earlier one."""
    kept: list[etree._Element] = []
    inside: set[etree._Element] = set()
    for el in elements:
        # In document order, an element inside an earlier match is inside the last one kept;
        # the kept ones are disjoint, so their descendants are listed once in all.
        if el not in inside:
            kept.append(el)
            inside = set(el.iterdescendants())
    return kept


def base_url_of(root: etree._Element, response: httpx.Response) -> str:
    try:
        url = str(response.url)
    except RuntimeError:  # a Response built without a request
        url = ""
    hrefs = _BASE_HREF(root)
    assert isinstance(hrefs, list)
    return joined(url, str(hrefs[0])) if hrefs else url


_BASE_HREF = etree.XPath("//base[@href][1]/@href", smart_strings=False)


def joined(base: str, url: str) -> str:
    """``url`` resolved against ``base``; ``url`` as written when either does not parse
    (an unbalanced IPv6 bracket): the check then skips and counts an item with that URL."""
    try:
        return urljoin(base, url)
    except ValueError:
        return url


def drop_hidden(root: etree._Element) -> None:
    """Remove elements hidden inline (``hidden``, ``display:none``, ``<template>``)."""
    for el in outermost(select(root, _HIDDEN)):  # one inside another goes with it
        drop(el)


def within(el: etree._Element, matches: set[etree._Element]) -> etree._Element | None:
    """The first element inside ``el`` (not ``el`` itself) that is one of ``matches``."""
    if matches:
        for inner in el.iterdescendants():
            if inner in matches:
                return inner
    return None


def pick(
    el: etree._Element, matches: set[etree._Element] | None, default_tag: str
) -> etree._Element | None:
    """The first of ``matches`` inside ``el`` (a selector's matches in the page); without a
    selector, ``el`` if it is a ``default_tag`` element, else its first one."""
    if matches is not None:
        return within(el, matches)
    if el.tag == default_tag:
        return el
    return next(el.iterdescendants(default_tag), None)


def text_of(el: etree._Element, sep: str = "") -> str:
    """What a visitor reads in ``el``, whitespace collapsed."""
    return SPACE.sub(" ", visible_text(el, sep)).strip()


def image_src(img: etree._Element, attr: str) -> str | None:
    for name in (attr, "data-src"):
        value = img.get(name)
        # Lazy-loading pages put a placeholder (data: URI) in src and the image in data-src.
        if isinstance(value, str) and value.strip() and not value.strip().startswith("data:"):
            return value.strip()
    return None


def marker_selector(marker: str) -> str | None:
    """The CSS selector a marker stands for, or ``None`` when it is text."""
    if marker.startswith(CSS):
        return marker[len(CSS) :].strip()
    if marker.startswith(TEXT) or not _SELECTOR_LIKE.match(marker):
        return None
    # "3.5 million", "a.m." and the like do not compile: text after all
    return marker if is_selector(marker) else None


def first_match(markers: tuple[str, ...], root: etree._Element, text: str) -> str | None:
    """The first of ``markers`` found in the page (``root``, its visible ``text``), if any."""
    folded = text.casefold()
    for marker in markers:
        selector = marker_selector(marker)
        if selector is not None:
            if select(root, selector):
                return marker
            continue
        needle = SPACE.sub(" ", marker.removeprefix(TEXT)).strip().casefold()
        if needle in folded:
            return marker
    return None
