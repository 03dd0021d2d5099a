"""Users' CSS selectors (the ``html`` source's options and markers), compiled once to XPath.

cssselect (the Scrapy project's library, the one parsel and lxml.cssselect use) translates a
selector to XPath 1.0, which lxml evaluates in C over its own tree: no Python object per
node, as BeautifulSoup's tree and soupsieve's matching needed.

A selector matches in the whole page, as ``querySelectorAll`` does in a browser; a
selector asked within an item (``image``, ``link``, ``title``) takes the item's first
descendant that matches, so ``div.r a`` with ``div.r`` the item, or ``body h3 a``, mean
what they say.

The dialect is CSS 3 selectors with ``:has()``, ``:is()``, ``:where()``, ``:contains("text")``
and case-insensitive attribute values (``[href$=".JPG" i]``). Forms that soupsieve (which
read these selectors before) accepted and this does not, each refused at config load with
the reason: ``:-soup-contains()`` (write ``:contains()``), ``:nth-child(2 of .x)``, ``:not``
with a list (``:not(a, b)``; write ``:not(a):not(b)``), ``:scope``, namespaces (``svg|a``),
``*:last-of-type`` and the other ``-of-type`` forms without an element name, and state
pseudo-classes a saved page cannot have (``:dir()``, ``:any-link``, ``:read-only``...).
"""

from __future__ import annotations

import functools
import itertools
import re

from cssselect import ExpressionError, HTMLTranslator, SelectorSyntaxError
from cssselect.parser import tokenize
from lxml import etree

_TRANSLATOR = HTMLTranslator()
# cssselect names the token it stopped at: "Expected selector, got <DELIM '}' at 6>".
_STOPPED = re.compile(
    r"Expected (?P<want>.+?), got <(?P<kind>[A-Z-]+) (?:'(?P<value>.*)' )?at (?P<pos>\d+)>"
)
_PROBE = etree.Element("html")
_SOUPSIEVE_ONLY = {
    "-soup-contains": "use :contains()",
    "-soup-contains-own": "use :contains()",
    "scope": "name the element instead",
}


@functools.lru_cache(maxsize=512)
def compiled(selector: str) -> etree.XPath:
    """``selector`` as an XPath over a whole page (its matches in document order), or
    ``ValueError`` with one line naming the selector and what is wrong with it."""
    try:
        _refuse_soupsieve_only(selector)
        # Absolute ("//div..."): markup after a stray </html> is a second top-level element,
        # which BeautifulSoup's tree held and which the root's descendants do not include.
        xpath = etree.XPath(_TRANSLATOR.css_to_xpath(selector, prefix="//"))
        xpath(_PROBE)  # a namespace prefix or the like fails only when evaluated
    except SelectorSyntaxError as exc:
        raise ValueError(f'"{selector}" is not a valid CSS selector: {_syntax(exc)}') from None
    except (ExpressionError, etree.XPathError) as exc:
        reason = " ".join(str(exc).split())
        raise ValueError(f'"{selector}" is not a valid CSS selector here: {reason}') from None
    return xpath


def is_selector(selector: str) -> bool:
    """True when ``selector`` compiles (see ``compiled``)."""
    try:
        compiled(selector)
    except ValueError:
        return False
    return True


def select(root: etree._Element, selector: str) -> list[etree._Element]:
    """The elements of ``root``'s page matching ``selector``, in document order (the whole
    document's, from any element of it)."""
    found = compiled(selector)(root)
    assert isinstance(found, list)
    return [el for el in found if isinstance(el, etree._Element)]


def _refuse_soupsieve_only(selector: str) -> None:
    for before, token in itertools.pairwise(tokenize(selector)):
        hint = _SOUPSIEVE_ONLY.get(str(token.value).lower()) if token.type == "IDENT" else None
        if hint and before.type == "DELIM" and before.value == ":":
            raise ExpressionError(f":{token.value} is not supported ({hint})")


def _syntax(exc: SelectorSyntaxError) -> str:
    """cssselect's message in words: which character, at which position, was unexpected."""
    message = str(exc)
    m = _STOPPED.fullmatch(message)
    if m is None:
        return message
    want, kind, value, pos = m.group("want", "kind", "value", "pos")
    if kind == "EOF":
        return f"it ends at position {pos} where {want} was expected"
    if kind == "DELIM":
        return f"Invalid character {value!r} position {pos} ({want} was expected)"
    return f"unexpected {value!r} at position {pos} ({want} was expected)"
