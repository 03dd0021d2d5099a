"""lxml trees for sources that read a few elements of an HTML page.

A source that needs two XPath queries and an attribute gets lxml's own tree: building a
BeautifulSoup tree of the same page costs several times the CPU (each node a Python object)
and its CSS engine walks every node in Python. The queries are compiled once, at import.
The depth guard (``refuse_deep``) runs before any tree is built, as for ``soup_of``.
"""

from __future__ import annotations

import re

from lxml import etree

from monitor.core.errors import ParseError
from monitor.sources.parsing import refuse_deep

# Elements whose text is no text a reader sees, as BeautifulSoup's ``get_text`` reads it (it
# files the strings anywhere inside them as code, template or ruby annotation strings).
_CODE = frozenset(["script", "style", "template", "rt", "rp"])
_TEXT = etree.XPath("//text()")
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_TEXT_WITHIN = etree.XPath(".//text()")
# Code anywhere in the document (after a stray </html> too), found in C.
_CODE_IN_PAGE = etree.XPath("//*[" + " or ".join(f"self::{name}" for name in _CODE) + "]")


def has_class(name: str) -> str:
    """An XPath test equivalent to CSS ``.name`` (a whitespace-separated class list)."""
    return f"contains(concat(' ', normalize-space(@class), ' '), ' {name} ')"


def html_tree(markup: str | bytes) -> etree._Element:
    """``markup`` parsed by lxml as HTML (the parser BeautifulSoup's "lxml" builder drives,
    so the elements found are the same), or ``ParseError`` when the page nests too deep or
    lxml refuses it (a declared charset that is no charset name). A page with no element at
    all (only a comment, or only whitespace) is an empty ``<html>``: it has nothing to find.
    """
    refuse_deep(markup)
    # The feed interface takes a str with an XML encoding declaration, which fromstring
    # refuses; BeautifulSoup feeds lxml the same way.
    parser = etree.HTMLParser(recover=True, no_network=True, huge_tree=True)
    try:
        parser.feed(markup)
        root = parser.close()
    except etree.XMLSyntaxError:
        root = None
    except (ValueError, LookupError) as exc:
        raise ParseError(f"markup the HTML parser refuses: {str(exc)[:80]}") from None
    if _no_memory(parser.error_log):  # recovering from it would leave a truncated tree
        raise MemoryError
    return root if root is not None else etree.Element("html")


def out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is an allocation that failed: a ``MemoryError``, or an lxml error
    whose log says libxml2 ran out of memory (which it reports as, say, an
    ``XPathEvalError`` "unknown error", not as a ``MemoryError``)."""
    if isinstance(exc, MemoryError):
        return True
    return isinstance(exc, etree.LxmlError) and _no_memory(exc.error_log)


def _no_memory(log: etree._ListErrorLog) -> bool:
    return any(entry.type == etree.ErrorTypes.ERR_NO_MEMORY for entry in log)


def visible_text(el: etree._Element, sep: str = " ") -> str:
    """The text of ``el``'s tree without comments and code (``<script>``, ``<style>``,
    ``<template>``, ruby annotations), pieces joined by ``sep``: what BeautifulSoup's
    ``get_text(sep)`` read. For the root, the whole document's text, stray text after
    ``</html>`` included.

    The code is left out here, not in the XPath: libxml2 evaluated a ``parent::`` test for
    70,000 text nodes in 8 s (a page the parser had cut into that many after each stray
    ``</html>``), where listing them takes milliseconds. ``.text`` and ``.tail`` would
    miss such nodes."""
    top = el.getparent() is None
    pieces = (_TEXT if top else _TEXT_WITHIN)(el)
    assert isinstance(pieces, list)
    code = _CODE_IN_PAGE(el) if top else list(el.iter(*_CODE))
    assert isinstance(code, list)
    if not code:
        return sep.join(pieces)
    # Elements inside code (a <template>'s markup, a ruby annotation's <b>): rare, so the
    # set is built only when there is code with elements in it.
    inside_code = {d for c in code if len(c) for d in c.iterdescendants()}
    out: list[str] = []
    for piece in pieces:
        owner = piece.getparent()  # for a tail, the element it follows
        if piece.is_tail and owner is not None:
            owner = owner.getparent()
        if owner is None or (owner.tag not in _CODE and owner not in inside_code):
            out.append(str(piece))
    return sep.join(out)


def drop(el: etree._Element) -> None:
    """Take ``el`` and what is inside it out of its tree, keeping the text that follows it."""
    parent = el.getparent()
    if parent is None:
        return
    tail, before = el.tail, el.getprevious()
    parent.remove(el)  # lxml takes the tail along
    if tail:
        # The parser keeps control characters that lxml refuses to set (an ESC, a form
        # feed); nobody sees them, so they go.
        if before is not None:
            before.tail = _NOT_XML.sub("", (before.tail or "") + tail)
        else:
            parent.text = _NOT_XML.sub("", (parent.text or "") + tail)
