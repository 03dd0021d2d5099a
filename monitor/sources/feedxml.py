"""RSS 0.9x, 1.0 (RDF), 2.0 and Atom 0.3/1.0 read with lxml: only what the feed source uses.

``read_feed`` returns each entry's title, link, summary and content (HTML or text, with the
base their relative URLs resolve against), ``media:content``, ``media:thumbnail`` and
enclosures, chosen as feedparser 6 chose them (the feed source read feedparser's entries
before): the shallowest title; ``description``/``summary`` as the summary, a second one as
content unless the entry has real content; content copied to the summary when there is
none; the last ``text/html`` alternate link, else a permalink ``guid``/``id``; links and
HTML resolved against ``xml:base`` (or the document's address); lower-cased names, known
namespaces by URI, unknown ones by the document's prefix.

Why not feedparser: on a body that is not well-formed it falls back to a pure-Python SGML
parser costing tens of milliseconds per feed (100 ms on fuzzed input), and it builds every
field of every entry. libxml2 in recover mode reads the same broken feeds in C.

Safety: no DTD is loaded, no entity is expanded (``&name;`` of a declared entity stays
literal, so a "billion laughs" costs nothing), nothing is fetched, and libxml2's own
depth and size limits stay on (``huge_tree`` off). HTML's named entities (``&nbsp;``), which
no DTD declares here, are read as the characters they name, as feedparser read them.

Bytes become text first (``sources.feedtext``: GB2312 and GBK read as GB18030, a wrong
declaration falls through to the next candidate); a bare ``&`` becomes ``&amp;`` and named
references become character references (``feedtext.character_refs``: libxml2's recovery
drops entity references after an error).

Where libxml2 cannot recover, it closes the root element and drops the rest of the document
(an attribute left open, junk before the root): entries would go missing and a feed would
seem to have fewer pictures than it has. So when the document had errors and holds more
entry start tags than the tree has entries, each entry is read again on its own, cut from
the text at its start tag (at most ``MAX_ENTRIES`` of them; a document with more is read as
far as libxml2 got; one past a limit of libxml2's is refused by the source anyway).
Parsing starts at the root element: the prolog is skipped, and so is junk before the root.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import NamedTuple
from xml.sax.saxutils import quoteattr

from lxml import etree

from monitor.sources.feedentry import Entry, name_of, read_entry, rebased
from monitor.sources.feedtext import Reading, character_refs, decode, valid_char_refs

MAX_ENTRIES = 2000  # entries read one by one at most; a news feed lists 10 to 100
_ENTRY_TAG = re.compile(r"<(?:[A-Za-z_][\w.-]*:)?(?:item|entry)(?=[\s/>])", re.IGNORECASE)
_ELEMENT = re.compile(r"<[A-Za-z_]")
_ROOT_END = re.compile(r"</(?:[\w.-]+:)?(?:rss|feed|RDF)\s*>\s*$")
_VERSIONS = {"rss": "rss", "rdf:rdf": "rss10", "rdf": "rss10", "feed": "atom"}


@dataclass
class Feed:
    """What ``read_feed`` found: the feed's format ("" when the root is no feed element),
    its entries, the first error libxml2 recovered from ("" for a well-formed feed), and the
    limit of libxml2's it reached ("" if none; past it, libxml2 read no further): nesting
    deeper than 256 elements, a text node over 10 MB; and whether it ends with the end tag
    of a feed's root (``rss``, Atom's ``feed``, RSS 1.0's ``rdf:RDF``), in whatever encoding."""

    version: str
    entries: list[Entry] = field(default_factory=list)
    problem: str = ""
    limit: str = ""
    complete: bool = False  # the text ends with the root's end tag (a cut body does not)


class _Parsed(NamedTuple):
    root: etree._Element | None
    problem: str
    limit: str


def read_feed(body: bytes, url: str, content_type: str) -> Feed:
    """The entries of the feed in ``body``, fetched from ``url`` with ``content_type``.
    Never raises for a malformed or undecodable body: what libxml2 recovers is read."""
    text, codec = decode(body, content_type)
    text = character_refs(text)
    utf8 = codec.startswith("utf-8")
    try:
        return _read(text, url, utf8)
    except UnicodeDecodeError:
        # A character reference to no character (&#xD800;, &#0;) is kept by libxml2 as
        # bytes that are no UTF-8, and lxml raises when the text is read: replace them.
        return _read(valid_char_refs(text), url, utf8)


def _read(text: str, url: str, utf8: bool) -> Feed:
    complete = _ROOT_END.search(text[-1024:]) is not None
    root, problem, limit = _tree(text)
    if root is None:
        return Feed("", problem=problem, complete=complete)
    version = _VERSIONS.get(name_of(root), "")
    how = Reading(atom=version == "atom", utf8=utf8, bases="base" in text)
    entries = _entries(root, url, how)
    if problem and not limit and len(entries) < MAX_ENTRIES:  # (past a limit: refused)
        starts = [m.start() for m in _ENTRY_TAG.finditer(text, 0)][: MAX_ENTRIES + 1]
        if len(entries) < len(starts) <= MAX_ENTRIES:
            # libxml2 closed the root early: read each entry on its own.
            one_by_one = _each_entry(text, starts, root.nsmap, url, how)
            entries = one_by_one if len(one_by_one) > len(entries) else entries
    return Feed(version, entries, problem, limit, complete)


def _tree(text: str) -> _Parsed:
    """``text`` parsed from its root element on: the prolog is skipped (the text is decoded,
    so the declaration has nothing left to say, and after a broken one libxml2 dropped even
    ``&lt;``), and so is junk before the root (feedparser skipped it too)."""
    start = _prolog_end(text)
    if not text.startswith("<", start) or not _ELEMENT.match(text, start):
        first = _ELEMENT.search(text, start)
        start = first.start() if first else start
    return _parse(text[start:] if start else text)


def _prolog_end(text: str) -> int:
    """Where the prolog (declaration, comments, processing instructions, doctype) ends."""
    at = 0
    while True:
        while at < len(text) and text[at] in " \t\r\n\ufeff":
            at += 1
        if text.startswith("<?", at):
            close = text.find("?>", at)
        elif text.startswith("<!--", at):
            close = text.find("-->", at)
        elif text.startswith("<!", at):
            bracket, close = text.find("[", at), text.find(">", at)
            if -1 < bracket < close:  # an internal subset: its declarations hold ">"
                close = text.find("]>", bracket)
        else:
            return at
        if close < 0:
            return at
        at = text.find(">", close) + 1


def _parse(text: str) -> _Parsed:
    parser = etree.XMLParser(
        encoding="utf-8",  # the text is decoded already; its declaration must not count
        recover=True,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
    )
    try:
        root = etree.fromstring(text.encode("utf-8", "replace"), parser)
    except etree.XMLSyntaxError:
        root = None
    errors = parser.error_log
    problem = errors[0].message.strip() if len(errors) else ""
    limits = errors.filter_types([etree.ErrorTypes.ERR_RESOURCE_LIMIT])
    limit = limits[0].message.split(", use XML_PARSE_HUGE")[0].strip() if len(limits) else ""
    return _Parsed(root, problem or ("" if root is not None else "no feed element"), limit)


def _entries(root: etree._Element, url: str, how: Reading) -> list[Entry]:
    return [
        read_entry(el, _base_of(el, url) if how.bases else url, how)
        for el in root.iter(etree.Element)
        if name_of(el) in ("item", "entry")
    ]


def _each_entry(
    text: str, starts: list[int], nsmap: dict[str | None, str], url: str, how: Reading
) -> list[Entry]:
    """The entries of ``text`` read one by one, each from its start tag to the next one's,
    inside an element declaring the root's namespaces."""
    declared = "".join(
        f" xmlns:{prefix}={quoteattr(uri)}" if prefix else f" xmlns={quoteattr(uri)}"
        for prefix, uri in nsmap.items()
    )
    entries: list[Entry] = []
    for start, end in zip(starts, [*starts[1:], len(text)], strict=True):
        root = _parse(f"<feed{declared}>{text[start:end]}</feed>").root
        if root is not None:
            entries += _entries(root, url, how)
    return entries


def _base_of(el: etree._Element, url: str) -> str:
    """The base of ``el``: ``url`` with the ``xml:base`` of ``el`` and its ancestors applied."""
    base = url
    for node in reversed([el, *el.iterancestors()]):
        base = rebased(base, node)
    return base
