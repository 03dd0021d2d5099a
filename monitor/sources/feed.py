"""RSS and Atom feeds: the entries that mention the term, and their images.

A feed is not a search engine: it lists its latest entries, and this source keeps those whose
title, summary or content mention the term (case-insensitive after Unicode NFKC folding;
Latin terms must stand as words, CJK terms are plain substrings since Chinese has no word
breaks). Content is included because many feeds put the text only in ``content:encoded``.

Images of a matching entry: ``media:content`` (images), ``enclosure`` with an image type and
``<img>`` in the content or summary; ``media:thumbnail`` is the thumbnail of those, or the
image itself when there is nothing else. A well-formed feed with no matching entry is
``no_results`` (the feed positively lists its entries, none mentions the term), and so are
matching entries none of which carries an image (zero images, recognised). A body that
is not a feed, or a feed cut off before its closing tag, is a ``ParseError``.

The document is read with lxml, only the fields used here (``sources.feedxml``: feedparser's
choices, libxml2's speed, encodings and broken feeds handled there).

``parse`` does not receive the term, so ``build_request`` puts it in the request's
``extensions`` (never in a header or the URL: the feed's server must not learn what we
watch). The fetcher must send the request object it was given.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from typing import ClassVar
from urllib.parse import quote

import httpx
from pydantic import Field, field_validator

from monitor.core.errors import ParseError
from monitor.core.logs import clip
from monitor.core.observation import ImageItem, PageResult
from monitor.core.urls import config_url
from monitor.sources.base import Source, SourceOptions
from monitor.sources.feedentry import Entry
from monitor.sources.feedxml import read_feed
from monitor.sources.markup import joined
from monitor.sources.parsing import (
    browser_headers,
    coerce_options,
    parse_int,
    refuse_deep,
    strip_tags,
)
from monitor.sources.tree import html_tree

logger = logging.getLogger(__name__)

TERM_EXTENSION = "absence_term"
# Possessive: with two plain ``\s*`` around the optional BOM, a body of whitespace that is no
# HTML made the match try every split between them (400 KB of CR held it over 300 CPU s).
_HTML_START = re.compile(rb"\s*+(?:\xef\xbb\xbf\s*+)?<(?:!doctype\s+html|html[\s>])", re.IGNORECASE)
_EMPTY_ELEMENT = re.compile(rb"<[^<>]*/>")
_IMAGE_EXT = re.compile(r"\.(?:jpe?g|png|gif|webp|avif|bmp)(?:[?#]|$)", re.IGNORECASE)
_ASCII_WORD = re.compile(r"[0-9a-z]")
# What no reader sees: feedparser's sanitiser dropped these elements with their text.
_CODE = re.compile(r"<(script|style|applet)\b", re.IGNORECASE)


def _fold(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def term_pattern(term: str) -> re.Pattern[str]:
    """A pattern finding ``term`` in folded text: Latin ends must be word boundaries
    ("Li" is not in "Lithium"), CJK ends need none ("董经纬表示" mentions 董经纬)."""
    folded = _fold(term)
    if not folded:
        raise ValueError("empty term")
    body = r"\s+".join(re.escape(word) for word in folded.split(" "))
    head = r"(?<![0-9a-z])" if _ASCII_WORD.match(folded[0]) else ""
    tail = r"(?![0-9a-z])" if _ASCII_WORD.match(folded[-1]) else ""
    return re.compile(head + body + tail)


def mentions(term: str, *texts: str) -> bool:
    """True when any of ``texts`` (HTML allowed) mentions ``term``."""
    pattern = term_pattern(term)
    return any(pattern.search(_fold(strip_tags(t))) for t in texts if t)


class FeedOptions(SourceOptions):
    """Feed options: the feed's address and which independence group it belongs to."""

    url: str  # the feed URL; "{query}" is replaced by the URL-encoded term if present
    family: str = Field(default="independent", min_length=1)

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("url must be an http(s) address")
        return config_url(v)


class FeedSource(Source):
    """Entries of an RSS or Atom feed that mention the term, with their images."""

    kind: ClassVar[str] = "feed"
    keys: ClassVar[str] = (
        "RSS/Atom entries whose title, summary or content mention the term; images from "
        "media:content, image enclosures, <img> in the content, media:thumbnail"
    )
    family: str = "independent"
    default_base_url: ClassVar[str] = ""  # the url option is the whole address
    Options: ClassVar[type[SourceOptions]] = FeedOptions
    options: FeedOptions

    def configured_urls(self) -> list[str]:
        """``base_url`` and the configured ``url`` (see ``Source.configured_urls``)."""
        return [*super().configured_urls(), self.options.url]

    def __init__(self, name: str, options: SourceOptions) -> None:
        super().__init__(name, coerce_options(options, FeedOptions))
        # A state broadcaster's feed and a foreign paper's are different witnesses.
        self.family = self.options.family

    def build_request(self, term: str, page: int) -> httpx.Request:
        # A feed has one page; every page number asks for the same document.
        url = self.options.url.replace("{query}", quote(term, safe=""))
        accept = "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.8"
        return httpx.Request(
            "GET",
            self.url(url),
            headers=browser_headers(self.options, accept=accept),
            extensions={TERM_EXTENSION: term},
        )

    def parse(self, response: httpx.Response, page: int) -> PageResult:
        term = response.request.extensions.get(TERM_EXTENSION)
        if not isinstance(term, str) or not term.strip():
            raise ParseError("the request does not carry the term (extensions dropped?)")
        body = response.content
        if not body.strip():
            raise ParseError("empty body")
        if _HTML_START.match(body):
            raise ParseError("HTML page where a feed was expected")
        base = str(response.request.url)
        feed = read_feed(body, base, response.headers.get("content-type", "application/xml"))
        if feed.limit:  # libxml2 stopped reading there: what it read is not the whole feed
            # A feed's own empty elements (<enclosure/>) nest nothing; the HTML counter
            # would count each as one level deeper.
            refuse_deep(_EMPTY_ELEMENT.sub(b"", body))
            raise ParseError(f"too complex ({feed.limit})")
        if not feed.version and not feed.entries:
            raise ParseError(
                f"not an RSS or Atom feed ({clip(feed.problem or 'no feed element', 120)})"
            )
        if not feed.complete:
            raise ParseError("truncated: the feed's closing tag is missing")
        if feed.problem:
            # libxml2 recovers from bad entities and the like, as feedparser's lenient parser
            # did; the document is complete (checked above), so its entries are all there.
            logger.debug("%s: feed not well-formed (%s)", self.name, clip(feed.problem, 120))
        pattern = term_pattern(term)
        matching = [e for e in feed.entries if _entry_mentions(e, pattern)]
        if not matching:
            return PageResult(items=(), no_results=True)
        items = [item for e in matching for item in _entry_items(e, base)]
        if not items:
            logger.debug(
                "%s: %d entries mention the term, none with an image", self.name, len(matching)
            )
        return PageResult(items=tuple(items), no_results=not items)

    def describe(self) -> str:
        return f"{self.name} ({self.kind}, {self.options.url.split('?', 1)[0]})"


def _entry_texts(entry: Entry) -> list[str]:
    return [entry.title] + [t.value for t in entry.texts]


def _entry_mentions(entry: Entry, pattern: re.Pattern[str]) -> bool:
    return any(
        pattern.search(_fold(strip_tags(_without_code(t)))) for t in _entry_texts(entry) if t
    )


def _without_code(text: str) -> str:
    """``text`` without ``<script>``, ``<style>`` and ``<applet>`` elements and their text (one
    never closed takes the rest with it, as in feedparser's sanitiser). One pass: a pattern
    matching each to its end tag rescanned the rest of the text for every unclosed one
    (2,000 of them in 200 KB took 3 CPU s, found by bench.fuzz)."""
    found = _CODE.search(text)
    if found is None:
        return text
    lower, kept, at = text.lower(), [], 0
    while found is not None:
        kept.append(text[at : found.start()])
        end = lower.find("</" + found.group(1).lower(), found.end())
        close = lower.find(">", end) if end >= 0 else -1
        at = close + 1 if close >= 0 else len(text)
        found = _CODE.search(text, at)
    kept.append(text[at:])
    return " ".join(kept)


def _entry_items(entry: Entry, base: str) -> list[ImageItem]:
    page = entry.link or None
    title = strip_tags(entry.title) or None
    origin = joined(base, page) if page else base
    thumbs = [t["url"] for t in entry.media_thumbnail if t.get("url")]
    thumb = joined(origin, thumbs[0]) if thumbs else None
    images = _media_images(entry.media_content)
    for enclosure in entry.enclosures:
        if enclosure["type"].startswith("image/") and enclosure["href"]:
            images.append(enclosure["href"])
    for text in entry.texts:
        if "<img" in text.value:
            # feedparser resolved <img src> in HTML against the feed's base; in plain text
            # it left it to be resolved against the entry's link, as it is below.
            found = _img_sources(text.value)
            images += [joined(text.base, u.strip()) if text.base else u for u in found]
    if not images and thumb:
        images.append(thumb)  # a thumbnail alone is still the entry's picture
    urls = list(dict.fromkeys(joined(origin, u.strip()) for u in images if u.strip()))
    return [
        ImageItem(image_url=u, thumb_url=thumb if thumb != u else None, page_url=page, title=title)
        for u in urls
        if u.startswith(("http://", "https://"))
    ]


def _media_images(contents: list[dict[str, str]]) -> list[str]:
    """The pictures among ``media:content``, in order. One picture in several sizes (the
    Guardian's ``width=140`` and ``width=460`` of one file: the same path, sized queries,
    a ``width`` each) is one image, its widest rendition kept."""
    order: list[str] = []  # plain URLs, and the paths of sized renditions
    widest: dict[str, tuple[int, str]] = {}
    for media in contents:
        url, medium, mime = media.get("url"), media.get("medium"), media.get("type", "")
        is_image = medium == "image" or str(mime).startswith("image/")
        if not url or not (is_image or (not medium and not mime and _IMAGE_EXT.search(url))):
            continue
        width = parse_int(media.get("width"))
        key = url if width is None else "sized:" + url.split("?", 1)[0]
        if key not in order:
            order.append(key)
        if width is not None and width > widest.get(key, (-1, ""))[0]:
            widest[key] = (width, url)
    return [widest[k][1] if k in widest else k for k in order]


def _img_sources(html: str) -> list[str]:
    out: list[str] = []
    for img in html_tree(html).iter("img"):
        for attr in ("src", "data-src"):
            value = img.get(attr)
            if isinstance(value, str) and value.strip() and not value.startswith("data:"):
                out.append(value)
                break
    return out
