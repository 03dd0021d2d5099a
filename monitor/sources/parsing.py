"""Small text helpers shared by source parsers (pure functions, no I/O).

``strip_tags`` turns an engine's highlighted title into plain text; ``parse_int`` reads a
count the way engines print it ("8,587", "约52,000", "332412", 1500). The response helpers
decode bodies (GBK included), turn empty, HTML or cut-off answers into ``ParseError`` with a
short reason, and build browser-like request headers.
"""

from __future__ import annotations

import html
import json
import re
import warnings
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import httpx

from monitor.core.errors import ParseError
from monitor.sources.base import SourceOptions

if TYPE_CHECKING:
    from bs4 import BeautifulSoup

# Only things that look like tags ("<em>", "</strong>", "<br/>"), so "a < b > c" survives.
_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
_SPACE = re.compile(r"\s+")
# Bing wraps query hits in private-use U+E000 ... U+E001 markers, even inside titles.
_HIT_MARKERS = str.maketrans("", "", "\ue000\ue001")
_DIGITS = re.compile(r"\d[\d,.\s\u00a0\u202f']*")


def strip_tags(text: str) -> str:
    """``text`` without HTML tags, with entities decoded and whitespace collapsed.

    Tolerant on purpose: Baidu titles carry stray closing tags (``…折线图</strong>``) and
    entities appear both escaped and raw, so this is a regex pass, not an HTML parser.
    """
    text = _TAG.sub("", text)
    text = html.unescape(text)
    # Entities can hide tags (``&lt;em&gt;``): strip again after decoding.
    text = _TAG.sub("", text)
    text = text.translate(_HIT_MARKERS)
    return _SPACE.sub(" ", text).strip()


def parse_int(text: object) -> int | None:
    """The first whole number in ``text`` with thousands separators removed, else ``None``.

    Accepts ints (returned as is, but not bools), and strings such as ``"8,587"``,
    ``"约52,000"`` or ``"1 500"``. A decimal part is not expected in counts and is dropped.
    """
    if isinstance(text, bool):
        return None
    if isinstance(text, int):
        return text
    if not isinstance(text, str):
        return None
    m = _DIGITS.search(text)
    if not m:
        return None
    raw = m.group(0).rstrip(",. \u00a0\u202f'")
    # "1.500" (German) vs "1.5": a dot followed by exactly three digits is a separator.
    head, _, _ = raw.partition(".") if re.search(r"\.\d{1,2}$", raw) else (raw, "", "")
    digits = re.sub(r"[^\d]", "", head)
    if not digits or len(digits) > 30:  # no count has 30 digits; int() refuses 4,300
        return None
    return int(digits)


# --- response helpers -------------------------------------------------------------------

_JSON_START = ("{", "[")


def response_text(response: httpx.Response) -> str:
    """The body as text, falling back to GB18030 for undeclared GBK pages.

    ``response.text`` honours the header charset (and any encoding the fetcher set from a
    meta tag). Chinese engines sometimes send GBK without declaring it; httpx then decodes
    as UTF-8 with replacement characters, so retry as GB18030 (a superset of GBK) when that
    happened and the header did not name a charset.
    """
    text = response.text
    if "\ufffd" in text and not response.charset_encoding:
        try:
            return response.content.decode("gb18030")
        except UnicodeDecodeError:
            pass
    return text


def require_body(text: str) -> str:
    """``text`` stripped; ``ParseError`` when nothing is left (an empty answer is no answer)."""
    body = text.strip().lstrip("\ufeff")
    if not body:
        raise ParseError("empty body")
    return body


def load_json(body: str, *, strict: bool = True) -> Any:
    """Parse ``body`` as JSON or raise ``ParseError`` saying what it looked like instead."""
    if body.startswith("<"):
        raise ParseError("HTML where JSON was expected")
    if not body.startswith(_JSON_START):
        raise ParseError(f"not JSON (starts with {body[:20]!r})")
    try:
        return json.loads(body, strict=strict)
    except json.JSONDecodeError as exc:
        # A cut-off body is the common case; it shows as an unclosed outer object or list.
        cut = exc.pos >= len(body) - 1 or not body.endswith(("}", "]"))
        raise ParseError(f"{'truncated' if cut else 'invalid'} JSON: {exc.msg}") from None
    except RecursionError:
        raise ParseError("JSON nested too deeply") from None
    except ValueError:  # an integer beyond Python's 4,300-digit conversion limit
        raise ParseError("a number in the JSON is too long") from None


# Deeper than any real page; bs4's tree building (and reading an element's text, for each
# element) grows with depth times size, so a page of 20,000 unclosed <div>s took minutes.
MAX_NESTING = 1000
# Elements HTML closes by itself when a sibling opens, and elements with no content.
_SELF_CLOSING = frozenset(
    [
        "p",
        "li",
        "dt",
        "dd",
        "tr",
        "td",
        "th",
        "thead",
        "tbody",
        "tfoot",
        "option",
        "optgroup",
        "rp",
        "rt",
        "colgroup",
        "caption",
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "source",
        "track",
        "wbr",
        "param",
        "keygen",
    ]
)
# A tag's start as an HTML5 parser (lxml's libxml2 2.14) reads it: "<" and a letter, the name
# running to a space, "/" or ">" (so "<t8\">" is an element named 't8"', nested like any other).
_TAG_START = re.compile(r"<(/?)([A-Za-z][^\s/<>]*)")
_START = re.compile(r"<[A-Za-z]")
# Elements whose content is text, not markup: tags inside them are not counted.
_RAW_TEXT = frozenset(["script", "style", "textarea", "title", "xmp", "plaintext"])


def nesting(markup: str | bytes, stop_over: int | None = None) -> int:
    """How deep ``markup``'s elements nest at most, by counting tags (an estimate that
    never needs the tree: elements HTML closes by itself are not counted). With
    ``stop_over``, the count stops as soon as the depth passes it: a page of 700,000 nested
    elements is judged after its first thousand, not after a second of CPU."""
    text = markup if isinstance(markup, str) else markup.decode("latin-1")
    depth = deepest = 0
    raw: str | None = None  # inside <script> or the like, until its end tag
    tag_end = 0  # the ">" that ends the last tag read: a "<" before it is inside that tag
    for m in _TAG_START.finditer(text):
        if m.start() < tag_end:
            continue
        closing, name = m.group(1), m.group(2).lower()
        if raw is not None and not (closing and name == raw):
            continue  # "i<n;" in a script is text, and so is every tag but the script's end
        # Linear: each search for a ">" starts after the last one found. A tag with no ">"
        # after it is no element (the parser drops it), and nor is any "<" after it.
        tag_end = text.find(">", m.end())
        if tag_end < 0:
            break
        if raw is not None:
            raw = None
        elif name in _RAW_TEXT:
            raw = None if closing else name
        elif name in _SELF_CLOSING:
            continue
        elif closing:
            depth = max(0, depth - 1)
        else:
            depth += 1
            deepest = max(deepest, depth)
            if stop_over is not None and deepest > stop_over:
                break
    return deepest


def refuse_deep(markup: str | bytes) -> None:
    """``ParseError`` "too complex" when ``markup`` nests more than ``MAX_NESTING`` deep, judged
    before any parser builds a tree or walks its tags (a tag costs a pure-Python parser tens
    of microseconds: 1 MB of unclosed ``<item>`` held feedparser 7 s)."""
    # No deeper than its start tags are many: 2 MB of stray "</html>" needs no count.
    starts = _START.findall(markup if isinstance(markup, str) else markup.decode("latin-1"))
    if len(starts) > MAX_NESTING and nesting(markup, stop_over=MAX_NESTING) > MAX_NESTING:
        raise ParseError(f"too complex (markup nested more than {MAX_NESTING} deep)")


def soup_of(markup: str | bytes) -> BeautifulSoup:
    """``markup`` parsed by lxml as HTML into a BeautifulSoup tree, or ``ParseError`` when
    lxml refuses it (a declared charset that is no charset name: control characters, NUL
    bytes). For a source of one's own that wants bs4's API; the shipped sources read lxml's
    tree (``sources.tree``), and bs4 is imported only when this is called.

    An XML document read as HTML, or a body that is only a URL or a file name, is what the
    engine sent: the page is judged by what the parser finds in it, so bs4's warnings about
    them are not shown (and a test that turns warnings into errors must not see them as the
    parser failing).
    """
    refuse_deep(markup)
    from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning, XMLParsedAsHTMLWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        try:
            return BeautifulSoup(markup, "lxml")
        except (ValueError, LookupError) as exc:
            raise ParseError(f"markup the HTML parser refuses: {str(exc)[:80]}") from None


def redirect_target(response: httpx.Response) -> str:
    """The URL the engine sent us to: the final URL, or ``Location`` of an unfollowed 3xx."""
    if response.is_redirect:
        return str(response.headers.get("location", ""))
    try:
        return str(response.url)
    except RuntimeError:  # a bare Response built without a request has no URL
        return ""


def host_of(url: str) -> str:
    """Lower-case host of ``url`` ('' when there is none)."""
    if url.startswith("//"):
        url = "https:" + url
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:  # an unbalanced IPv6 bracket: no host anyone can name
        return ""


def browser_headers(
    options: SourceOptions, *, accept: str, referer: str | None = None, **extra: str
) -> dict[str, str]:
    """Headers a desktop browser would send, with the user's ``headers`` option on top."""
    headers = {
        "User-Agent": options.user_agent,
        "Accept": accept,
        "Accept-Language": options.accept_language,
    }
    if referer:
        headers["Referer"] = referer
    headers.update(extra)
    headers.update(options.headers)  # the user's own headers win: they know their engine
    return headers


_O = TypeVar("_O", bound=SourceOptions)


def coerce_options(options: SourceOptions, cls: type[_O]) -> _O:
    """``options`` as the kind's own model (re-validated when given the base model)."""
    if isinstance(options, cls):
        return options
    return cls.model_validate(options.model_dump())
