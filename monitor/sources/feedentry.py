"""One ``<item>`` or ``<entry>`` of a feed: the fields the feed source reads, chosen as
feedparser 6 chose them (see ``sources.feedxml`` for the document around it).

- title: the first at the shallowest depth (``title``, ``dc:title``; a ``media:title``
  inside ``media:content`` only when the entry has none of its own);
- summary: the first ``description``/``summary``/``dc:description``/``media:description``;
  a second one is content unless the entry has real content; content is copied to the
  summary when there is none;
- link: the last ``text/html`` alternate ``<link>`` (Atom) or the ``<link>`` text (RSS),
  else a permalink ``guid``/``id``, resolved against ``xml:base``;
- ``media:content`` and ``media:thumbnail`` (anywhere in the entry, ``media:group``
  included), ``enclosure`` and Atom ``link rel="enclosure"``, attributes by lower-cased name.

Names are lower-cased with the usual prefix of their namespace (``media:content`` whatever
prefix the feed chose); an unknown namespace keeps the feed's prefix, and so does an
undeclared one (libxml2 keeps ``media:content`` as written), as feedparser did.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lxml import etree

from monitor.sources.feedtext import (
    HTML_TYPES,
    TYPES,
    Reading,
    Text,
    attributes,
    plain_value,
    value_of,
)
from monitor.sources.markup import joined

_NAMESPACES = {
    "http://www.w3.org/2005/atom": "",
    "http://purl.org/atom/ns#": "",
    "http://purl.org/rss/1.0/": "",
    "http://my.netscape.com/rdf/simple/0.9/": "",
    "http://backend.userland.com/rss": "",
    "http://blogs.law.harvard.edu/tech/rss": "",
    "http://purl.org/rss/1.0/modules/rss091#": "",
    "http://search.yahoo.com/mrss/": "media",
    "http://search.yahoo.com/mrss": "media",
    "http://purl.org/rss/1.0/modules/content/": "content",
    "http://purl.org/dc/elements/1.1/": "dc",
    "http://www.w3.org/1999/xhtml": "xhtml",
    "http://www.itunes.com/dtds/podcast-1.0.dtd": "itunes",
    "http://www.w3.org/1999/02/22-rdf-syntax-ns#": "rdf",
}
_TITLES = {"title": False, "dc:title": False, "media:title": True}  # name -> is media:title
_SUMMARIES = {
    "description": "text/html",
    "dc:description": "text/html",
    "media:description": "text/html",
    "summary": "text/plain",
    "itunes:summary": "text/plain",
    "abstract": "text/plain",
}
# name -> (default type, whether it counts as the entry having content)
_CONTENTS = {
    "content": ("text/plain", True),
    "content:encoded": ("text/html", True),
    "fullitem": ("text/html", True),
    "body": ("application/xhtml+xml", False),
    "xhtml:body": ("application/xhtml+xml", False),
}
_VALUES = _TITLES.keys() | _SUMMARIES.keys() | _CONTENTS.keys()
_SKIPPED = frozenset(["source", "image", "item", "entry"])  # subtrees that are no entry field
_XML_BASE = "{http://www.w3.org/XML/1998/namespace}base"
_NAMES: dict[str, str] = {}  # tag -> name_of, for tags whose name needs no prefix


@dataclass
class Entry:
    """The fields of one ``<item>`` or ``<entry>`` the feed source reads (see the docstring)."""

    title: str = ""
    link: str | None = None
    summary: Text | None = None
    contents: list[Text] = field(default_factory=list)
    media_content: list[dict[str, str]] = field(default_factory=list)
    media_thumbnail: list[dict[str, str]] = field(default_factory=list)
    enclosures: list[dict[str, str]] = field(default_factory=list)

    @property
    def texts(self) -> list[Text]:
        """The summary, then every content: where a mention and ``<img>`` are looked for."""
        return ([self.summary] if self.summary is not None else []) + self.contents


def name_of(el: etree._Element) -> str:
    """feedparser's name for ``el``: lower case, the prefix of its namespace ("media:content")."""
    tag = el.tag
    if not isinstance(tag, str):
        return ""  # a comment or an entity reference
    name = _NAMES.get(tag)
    if name is not None:
        return name
    if tag[0] != "{":
        name = tag.lower()  # no namespace, or an undeclared prefix kept as written
    else:
        uri, local = tag[1:].split("}", 1)
        prefix = _NAMESPACES.get(uri.lower())
        if prefix is None:  # an unknown namespace: the name depends on the feed's prefix
            return f"{el.prefix}:{local}".lower() if el.prefix else local.lower()
        name = f"{prefix}:{local}".lower() if prefix else local.lower()
    if len(_NAMES) < 4096:  # the names feeds use; a fuzzed feed must not grow it forever
        _NAMES[tag] = name
    return name


def rebased(base: str, el: etree._Element) -> str:
    href = el.get(_XML_BASE) or el.get("base")
    if not href:
        return base
    new = joined(base, href.strip())
    # feedparser kept the old base when the new one was no web address (javascript:, ...).
    return new if new.startswith(("http://", "https://")) or not base else base


def read_entry(el: etree._Element, base: str, how: Reading) -> Entry:
    """The fields of the entry ``el`` whose base is ``base`` (see the module docstring)."""
    entry = Entry()
    titles = _Titles()
    summary_depth: int | None = None
    has_content = False
    stack = [(child, base, 1) for child in reversed(el)]
    while stack:
        node, parent_base, depth = stack.pop()
        name = name_of(node)
        if not name or name in _SKIPPED:
            continue
        node_base = rebased(parent_base, node) if how.bases else parent_base
        if name in _TITLES:
            titles.offer(value_of(node, "text/plain", node_base, how).value, depth, _TITLES[name])
        elif name in _SUMMARIES:
            value = value_of(node, _SUMMARIES[name], node_base, how)
            if entry.summary is not None and not has_content:
                entry.contents.append(value)  # a second summary is content (feedparser)
            elif summary_depth is None or depth <= summary_depth:
                entry.summary, summary_depth = value, depth
        elif name in _CONTENTS:
            default, counts = _CONTENTS[name]
            value = value_of(node, default, node_base, how)
            has_content = has_content or counts
            entry.contents.append(value)
            if entry.summary is None and value.kind in HTML_TYPES | {"text/plain"}:
                entry.summary = value
        elif name == "link":
            _link(entry, node, node_base)
        elif name in ("guid", "id"):
            permalink = attributes(node).get("ispermalink", "true") == "true"
            guid = plain_value(node)
            if permalink and entry.link is None:
                entry.link = joined(node_base, guid) if guid else guid
        elif name == "enclosure":
            attrs = attributes(node)
            href = attrs.get("url") or attrs.get("uri") or attrs.get("href")
            if href:
                entry.enclosures.append({"href": href, "type": attrs.get("type", "")})
        elif name in ("media:content", "media:thumbnail"):
            attrs = attributes(node)
            if name == "media:thumbnail":
                attrs.setdefault("url", plain_value(node))
                entry.media_thumbnail.append(attrs)
            else:
                entry.media_content.append(attrs)
        if name not in _VALUES:
            stack += [(child, node_base, depth + 1) for child in reversed(node)]
    entry.title = titles.value
    return entry


class _Titles:
    """feedparser's choice among an entry's titles: the first at the shallowest depth; a
    ``media:title`` (inside ``media:content``) only when nothing shallower has one."""

    def __init__(self) -> None:
        self.value = ""
        self._depth = -1  # depth of the last non-empty, non-media title
        self._stored: int | None = None

    def offer(self, value: str, depth: int, media: bool) -> None:
        if -1 < self._depth <= depth:
            return
        if self._stored is None or depth <= self._stored:
            self.value, self._stored = value, depth
        if value and not media:
            self._depth = depth


def _link(entry: Entry, node: etree._Element, base: str) -> None:
    attrs = attributes(node)
    href = attrs.get("href") or attrs.get("url") or attrs.get("uri")
    rel = attrs.get("rel", "alternate")
    kind = TYPES.get(attrs.get("type", ""), attrs.get("type", ""))
    if not href:
        value = plain_value(node)
        value = joined(base, value) if value else value
        entry.link = re.sub(r"&([A-Za-z0-9_]+);", r"&\g<1>", value.replace("&amp;", "&"))
    elif rel == "enclosure":
        entry.enclosures.append({"href": joined(base, href), "type": kind})
    elif rel == "alternate" and (kind or "text/html") in HTML_TYPES:
        entry.link = joined(base, href)
