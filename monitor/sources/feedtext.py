"""A feed as text: its bytes decoded before libxml2 reads them, and its elements' values
after (the helpers of ``sources.feedxml``).

The order: a byte-order mark (or UTF-16 without one, told by its ``<?`` in two bytes), then
the ``charset`` of the HTTP Content-Type, then the XML declaration, then UTF-8, then
GB18030, each tried strictly; the first that decodes the whole body wins. GB2312 and GBK
labels decode as GB18030, their superset: Chinese sites label GBK text GB2312 (feedparser
widened GB2312 the same way). A declaration that is wrong (UTF-8 declared, GBK sent) falls
through to the next candidate, as in feedparser. When nothing decodes cleanly, the first
candidate that finds markup decodes with replacement characters: one broken byte costs one
character, where feedparser's last resort, windows-1252, turned a whole Chinese feed into
mojibake (and a feed that mentions a name in Chinese into one that never does).

The fetcher decides a body's encoding too (``fetch.body``), but a source may not import the
fetcher, and a feed needs the fall-through above, which a single decision cannot give.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from html.entities import name2codepoint
from typing import NamedTuple
from xml.sax.saxutils import escape

from lxml import etree

_XML_DECL = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9_.:-]+)", re.I)
_CHARSET = re.compile(r"charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:-]+)", re.I)
_GB = frozenset(["gb2312", "gbk", "x-gbk", "cp936", "ms936", "csgb2312", "euc-cn", "gb_2312-80"])
# Python codecs that turn bytes into text but are no character set a document declares.
_NOT_CHARSETS = frozenset(["unicode_escape", "raw_unicode_escape", "punycode", "idna", "undefined"])
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16: its mark starts the same way
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
    (b"<\x00?\x00", "utf-16-le"),
    (b"\x00<\x00?", "utf-16-be"),
)
TYPES = {"text": "text/plain", "plain": "text/plain", "html": "text/html"}
TYPES["xhtml"] = "application/xhtml+xml"
HTML_TYPES = frozenset(["text/html", "application/xhtml+xml"])
_CLOSE_OR_ENTITY = re.compile(r"</\w+>|&#?\w+;")
# An "&" that starts no reference (feedparser's loose parser's pattern).
_BARE_AMP = re.compile(r"&(?!#\d+;|#x[0-9a-fA-F]+;|\w+;)")
_PREDEFINED = [("&amp;", "&#38;"), ("&lt;", "&#60;"), ("&gt;", "&#62;"), ("&quot;", "&#34;")]
_PREDEFINED.append(("&apos;", "&#39;"))
_NAMED_REF = re.compile(r"&([A-Za-z][A-Za-z0-9]{1,31});")
_CHAR_REF = re.compile(r"&#(?:[xX]([0-9a-fA-F]{1,8})|([0-9]{1,10}));")
_UNDEFINED = (0x81, 0x8D, 0x8F, 0x90, 0x9D)  # no character in windows-1252
# feedparser's map of the C1 controls to what windows-1252 puts there (a feed labelled
# ISO-8859-1 is written in windows-1252 more often than not).
_CP1252 = {c: bytes([c]).decode("cp1252") for c in range(0x80, 0xA0) if c not in _UNDEFINED}
_C1 = re.compile("[\x80-\x9f]")


class Reading(NamedTuple):
    """How a document reads: Atom (no guessing whether text is HTML), UTF-8 (values repaired
    when double-encoded), and whether any ``xml:base`` is in it (else none is looked for)."""

    atom: bool
    utf8: bool
    bases: bool


@dataclass(frozen=True)
class Text:
    """A title's, summary's or content's value; ``base`` is what the relative URLs in it
    resolve against when it is HTML (``None`` for plain text); ``kind`` its media type."""

    value: str
    base: str | None
    kind: str


def codec(label: str | None) -> str | None:
    """The Python codec for a charset label (GB family widened), or None if it names none."""
    label = (label or "").strip().lower()
    if not label:
        return None
    if label in _GB:
        return "gb18030"
    try:
        info = codecs.lookup(label)
    except LookupError:
        return None
    if info.name in _NOT_CHARSETS or not getattr(info, "_is_text_encoding", True):
        return None
    return "gb18030" if info.name in ("gbk", "gb2312") else info.name


def decode(body: bytes, content_type: str) -> tuple[str, str]:
    """``body`` as text, and the codec that decoded it (the order is in the docstring)."""
    candidates: list[str | None] = [name for bom, name in _BOMS if body.startswith(bom)]
    del candidates[1:]
    header = _CHARSET.search(content_type)
    declared = _XML_DECL.match(body[:1024])
    candidates += [
        codec(header.group(1)) if header else None,
        codec(declared.group(1).decode("ascii")) if declared else None,
        "utf-8",
        "gb18030",
    ]
    tried = [c for c in dict.fromkeys(candidates) if c]
    # A codec that decodes the bytes but finds no "<" near the start read them wrongly
    # (a UTF-16 mark before UTF-8 text); the last resort replaces what does not decode.
    for errors in ("strict", "replace"):
        for name in tried:
            try:
                text = body.decode(name, errors)
            except (UnicodeError, LookupError):
                continue
            if "<" in text[:1024]:
                return (text.translate(_CP1252) if _C1.search(text) else text), name
    return body.decode("utf-8", "replace"), "utf-8"


def character_refs(text: str) -> str:
    """``text`` with each ``&`` that starts no reference written ``&amp;`` (``?a=1&b=2`` in a
    link: common, and libxml2 drops ``&b``), then every named reference libxml2 would not
    keep turned into a character reference: HTML's (``&nbsp;``: no DTD declares them), and
    even XML's own (``&lt;``), because after any error libxml2's recovery drops the entity
    references in text (2.14: a feed with one stray tag lost every ``&lt;img`` after it).
    Inside CDATA this turns ``&lt;`` into ``&#60;``, the same character to an HTML reader."""
    if "&" not in text:
        return text
    text = _BARE_AMP.sub("&amp;", text)
    for name, ref in _PREDEFINED:
        text = text.replace(name, ref)
    return _NAMED_REF.sub(_numbered, text)


def _numbered(m: re.Match[str]) -> str:
    code = name2codepoint.get(m.group(1))
    return f"&#{code};" if code else m.group(0)


def undo_double_utf8(text: str) -> str:
    """``text`` repaired when it is UTF-8 read as ISO-8859-1 ("Ã©" for "é"), as feedparser
    repaired every value of a UTF-8 feed; any other text is returned unchanged."""
    try:
        return text.encode("iso-8859-1").decode("utf-8")
    except UnicodeError:
        return text


def valid_char_refs(text: str) -> str:
    """``text`` with character references to no XML character (``&#0;``, ``&#xD800;``)
    replaced by U+FFFD: libxml2 keeps them as bytes that lxml cannot read back."""
    return _CHAR_REF.sub(_valid_char, text)


def _valid_char(m: re.Match[str]) -> str:
    code = int(m.group(1), 16) if m.group(1) else int(m.group(2))
    valid = code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD
    return m.group(0) if valid or 0x10000 <= code <= 0x10FFFF else "\ufffd"


def attributes(node: etree._Element) -> dict[str, str]:
    """Attributes by lower-cased name, ``rel`` and ``type`` values lower-cased (feedparser)."""
    out: dict[str, str] = {}
    for key, value in node.items():
        name = str(key).rsplit("}", 1)[-1].lower()
        out[name] = value.lower() if name in ("rel", "type") else value
    return out


def plain_value(node: etree._Element) -> str:
    """The text inside ``node``, stripped (an undeclared entity such as ``&nbsp;`` as written)."""
    return "".join(str(t) for t in node.itertext()).strip()


def inner_markup(node: etree._Element) -> str:
    """The inside of ``node`` as markup: elements by local name, text escaped."""
    out = [escape(node.text or "")]
    for child in node:
        tag = child.tag
        if isinstance(tag, str):
            name = tag.rsplit("}", 1)[-1].split(":")[-1]
            attrs = "".join(
                f' {str(k).rsplit("}", 1)[-1]}="{escape(v, {chr(34): "&quot;"})}"'
                for k, v in child.items()
            )
            out.append(f"<{name}{attrs}>{inner_markup(child)}</{name}>")
        elif isinstance(child, etree._Entity):
            out.append(str(child.text))
        out.append(escape(child.tail or ""))
    return "".join(out)


def value_of(node: etree._Element, default: str, base: str, how: Reading) -> Text:
    """A title's, summary's or content's value: its text, or its markup when it holds
    elements (inline XHTML, or HTML a feed forgot to escape)."""
    kind = node.get("type", default).lower()
    kind = TYPES.get(kind, kind)
    if any(isinstance(child.tag, str) for child in node):  # elements, not only entities
        value = inner_markup(node).strip()
        kind = "application/xhtml+xml"
    else:
        value = plain_value(node)
    if how.utf8:
        value = undo_double_utf8(value)
    # RSS leaves plain text and HTML to be guessed (feedparser's guess, without its list
    # of allowed tags): HTML has its relative URLs resolved, plain text does not.
    htmlish = kind in HTML_TYPES or (
        not how.atom and kind == "text/plain" and _CLOSE_OR_ENTITY.search(value) is not None
    )
    return Text(value, base if htmlish else None, kind)
