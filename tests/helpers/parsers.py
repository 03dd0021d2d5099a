"""Sources and pages for the parse pool's tests (``tests/test_check_pool.py``).

The sources here are importable by name, as a parse worker needs them to be: it rebuilds a
source from its class, name and options.
"""

from __future__ import annotations

from typing import ClassVar

import httpx

from monitor.core.observation import PageResult
from monitor.sources.base import Source, SourceOptions
from monitor.sources.webpage import HtmlSource


class BuggySource(Source):
    """A parser with a bug: every page raises ``KeyError('objURL')``."""

    kind: ClassVar[str] = "buggy"

    def __init__(self, name: str = "buggy", options: SourceOptions | None = None) -> None:
        super().__init__(name, options or SourceOptions(kind="buggy"))

    def build_request(self, term: str, page: int) -> httpx.Request:
        return httpx.Request("GET", "http://engine.test/", params={"q": term})

    def parse(self, response: httpx.Response, page: int) -> PageResult:
        raise KeyError("objURL")


def nested_divs(size: int) -> bytes:
    """An HTML page of about ``size`` bytes: ``<div>`` elements nested as deep as that allows,
    one result in the middle (the page that took 160-233 s of CPU to parse inline)."""
    depth = (size - 100) // 11
    item = '<div class="r"><a href="/p"><img src="/deep.jpg"></a></div>'
    return f"<html><body>{'<div>' * depth}{item}{'</div>' * depth}</body></html>".encode()


def wide_page(size: int) -> bytes:
    """An HTML page of about ``size`` bytes, shallow but long: ``<div>`` after ``<div>``,
    one result at the end (lxml parses 2 MB in about 0.9 s of CPU and 64 MB; ``SLOW_ITEM``
    makes 200 KB of it take 4.5 s)."""
    filler = '<div class="x"><span>word</span> text</div>' * ((size - 120) // 43)
    item = '<div class="r"><a href="/p"><img src="/wide.jpg"></a></div>'
    return f"<html><body>{filler}{item}</body></html>".encode()


# An item selector that matches ``div.r`` on any page but costs quadratic time on a
# ``wide_page``: libxml2 walks every ``div.x``'s following siblings (what cssselect makes of
# ``~``), so a page's CPU budget, not its size, is what stops it.
SLOW_ITEM = "div.x ~ div.r, div.r"


def result_page(n: int = 2) -> bytes:
    """A plain results page with ``n`` items."""
    items = "".join(
        f'<div class="r"><a href="/page/{i}"><img src="/img/{i}.jpg">photo {i}</a></div>'
        for i in range(n)
    )
    return f"<html><body>{items}</body></html>".encode()


def html_source(name: str = "html", **options: object) -> HtmlSource:
    """An html source reading ``div.r`` items from ``http://engine.test/``."""
    opts = HtmlSource.Options.model_validate(
        {"kind": "html", "url": "http://engine.test/?q={query}", "item": "div.r", **options}
    )
    return HtmlSource(name, opts)


def html_response(body: bytes) -> httpx.Response:
    """A fetched-looking response carrying ``body``."""
    request = httpx.Request("GET", "http://engine.test/?q=x")
    return httpx.Response(200, content=body, headers={"content-type": "text/html"}, request=request)
