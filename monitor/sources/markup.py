"""HTML helpers of the ``html`` source (``sources.webpage``): decoding a page, its base URL,
what a visitor sees (hidden elements dropped), picking elements and image sources, and the
markers (a CSS selector or text) that say "blocked" or "nothing found"."""

from __future__ import annotations

import re
from urllib.parse import urljoin

import httpx
import soupsieve
from bs4 import BeautifulSoup, Tag

CSS = "css:"
TEXT = "text:"
# An optional tag name followed by a class, id or attribute: ".x", "div#y", "[data-z]".
_SELECTOR_LIKE = re.compile(r"^[a-z][a-z0-9-]*[.#\[]|^[.#\[]")
SPACE = re.compile(r"\s+")
_META_CHARSET = re.compile(rb"<meta[^>]+charset\s*=", re.IGNORECASE)


def decoded_markup(response: httpx.Response, encoding: str | None) -> str | bytes:
    """The body for the parser, decoded by the first charset found in: the header, a
    ``<meta>`` tag (left to the parser: GBK news sites often declare it only there), the
    ``encoding`` option. With none of them the parser guesses from the bytes."""
    if response.charset_encoding:
        return response.text
    if _META_CHARSET.search(response.content[:4096]) or not encoding:
        return response.content
    return response.content.decode(encoding, errors="replace")


def outermost(elements: list[Tag]) -> list[Tag]:
    """``elements`` (in document order) without those inside an earlier one."""
    kept: list[Tag] = []
    for el in elements:
        if not kept or not _inside(el, kept[-1]):
            kept.append(el)
    return kept


def _inside(el: Tag, outer: Tag) -> bool:
    # Document order: an element is inside an earlier match only if inside the last kept.
    return any(parent is outer for parent in el.parents)


def base_url_of(soup: BeautifulSoup, response: httpx.Response) -> str:
    try:
        url = str(response.url)
    except RuntimeError:  # a Response built without a request
        url = ""
    base = soup.find("base", href=True)
    href = base.get("href") if isinstance(base, Tag) else None
    return urljoin(url, href) if isinstance(href, str) else url


def drop_hidden(soup: BeautifulSoup) -> None:
    """Remove elements hidden inline (``hidden``, ``display:none``, ``<template>``)."""
    for el in soup.select('[hidden], template, [style*="display:none"], [style*="display: none"]'):
        if not el.decomposed:  # a hidden element inside another one went with its parent
            el.decompose()


def pick(el: Tag, selector: str | None, default_tag: str) -> Tag | None:
    if selector:
        return el.select_one(selector)
    if el.name == default_tag:
        return el
    found = el.find(default_tag)
    return found if isinstance(found, Tag) else None


def image_src(img: Tag, attr: str) -> str | None:
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
    try:
        soupsieve.compile(marker)
    except soupsieve.SelectorSyntaxError:
        return None  # "3.5 million", "a.m." and the like: text after all
    return marker


def first_match(markers: tuple[str, ...], soup: BeautifulSoup, text: str) -> str | None:
    folded = text.casefold()
    for marker in markers:
        selector = marker_selector(marker)
        if selector is not None:
            if soup.select_one(selector) is not None:
                return marker
            continue
        needle = SPACE.sub(" ", marker.removeprefix(TEXT)).strip().casefold()
        if needle in folded:
            return marker
    return None
