"""lxml trees for sources that read a few elements of an HTML page.

A source that needs two XPath queries and an attribute gets lxml's own tree: building a
BeautifulSoup tree of the same page costs several times the CPU (each node a Python object)
and its CSS engine walks every node in Python. The queries are compiled once, at import.
The depth guard (``refuse_deep``) runs before any tree is built, as for ``soup_of``.
"""

from __future__ import annotations

from lxml import etree

from monitor.core.errors import ParseError
from monitor.sources.parsing import refuse_deep

# The text a reader sees, as BeautifulSoup's ``get_text`` reads it: comments are no text,
# nor is the code inside <script>, <style> or <template>.
_VISIBLE_TEXT = etree.XPath(
    "//text()[not(parent::script or parent::style or parent::template)]", smart_strings=False
)


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
    parser = etree.HTMLParser(recover=True, no_network=True)
    try:
        parser.feed(markup)
        root = parser.close()
    except etree.XMLSyntaxError:
        root = None
    except (ValueError, LookupError) as exc:
        raise ParseError(f"markup the HTML parser refuses: {str(exc)[:80]}") from None
    return root if root is not None else etree.Element("html")


def visible_text(root: etree._Element) -> str:
    """The text of ``root``'s tree without comments and code, pieces joined by a space."""
    pieces = _VISIBLE_TEXT(root)
    assert isinstance(pieces, list)
    return " ".join(str(p) for p in pieces)
