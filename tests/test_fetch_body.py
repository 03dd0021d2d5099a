"""Bodies (``monitor.fetch.body``): read under a size cap counted after decompression,
decoded in the charset the page declares (GBK pages too), and URLs masked for logs.

HTTP goes through ``httpx.MockTransport`` with plain router functions (``tests.helpers.fetch``).
"""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator

import httpx
import pytest

from monitor.core.masking import mask_url
from monitor.core.observation import Status
from monitor.fetch.body import choose_encoding
from monitor.fetch.client import FetchPolicy
from tests.helpers.fetch import FAST, get, make_fetcher, sequence

# --- size and compression -------------------------------------------------------------


async def test_size_cap_stops_reading_a_huge_stream_early() -> None:
    class Endless(httpx.AsyncByteStream):
        chunks = 0
        closed = False

        async def __aiter__(self) -> AsyncIterator[bytes]:
            while True:
                Endless.chunks += 1
                yield b"x" * 4096

        async def aclose(self) -> None:
            Endless.closed = True

    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=Endless())

    policy = FetchPolicy(interval=0.0, max_bytes=10_000)
    async with make_fetcher(handler) as fetcher:
        result = await fetcher.fetch(get(), policy)
    assert result.status is Status.PARSE_ERROR
    assert result.reason == "response too large (> 10000 bytes)"
    assert result.attempts == 1  # retrying cannot make it smaller
    assert Endless.chunks == 3 and Endless.closed


async def test_size_cap_counts_decompressed_bytes() -> None:
    bomb = gzip.compress(b"\0" * 1_000_000)
    handler, _ = sequence(httpx.Response(200, content=bomb, headers={"Content-Encoding": "gzip"}))
    async with make_fetcher(handler) as fetcher:
        result = await fetcher.fetch(get(), FetchPolicy(interval=0.0, max_bytes=100_000))
    assert len(bomb) < 100_000
    assert result.status is Status.PARSE_ERROR and "too large" in (result.reason or "")


async def test_gzip_body_is_decompressed() -> None:
    body = '{"title": "天安门"}'.encode()
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    handler, seen = sequence(httpx.Response(200, content=gzip.compress(body), headers=headers))
    async with make_fetcher(handler) as fetcher:
        result = await fetcher.fetch(get(), FAST)
    assert result.response is not None
    assert result.response.content == body
    assert result.response.json() == {"title": "天安门"}
    assert "content-encoding" not in result.response.headers
    assert "gzip" in seen[0].headers["Accept-Encoding"]


# --- encodings ------------------------------------------------------------------------


CHINESE = "朱镕基 图片 搜索"


@pytest.mark.parametrize(
    ("content_type", "head"),
    [
        ("text/html", '<meta charset="gb2312">'),
        ("text/html", '<meta http-equiv="Content-Type" content="text/html; charset=GBK">'),
        (None, "<meta charset=gbk>"),
        ("text/html; charset=GBK", ""),
        ("text/html; charset=gb2312", '<meta charset="utf-8">'),  # the header wins
    ],
)
async def test_gbk_pages_decode_correctly(content_type: str | None, head: str) -> None:
    page = f"<html><head>{head}<title>{CHINESE}</title></head></html>"
    headers = {"Content-Type": content_type} if content_type else {}
    body = page.encode("gb18030")
    handler, _ = sequence(httpx.Response(200, content=body, headers=headers))
    async with make_fetcher(handler) as fetcher:
        result = await fetcher.fetch(get(), FAST)
    assert result.response is not None
    assert result.response.encoding == "gb18030"
    assert CHINESE in result.response.text


def test_encoding_defaults_to_utf8_and_ignores_meta_inside_json() -> None:
    assert choose_encoding(None, "<p>没有</p>".encode()) == "utf-8"
    assert choose_encoding("application/json", b'{"html": "<meta charset=gbk>"}') == "utf-8"
    assert choose_encoding("text/html", b"\xef\xbb\xbf<html>") == "utf-8-sig"
    assert choose_encoding("text/xml", b'<?xml version="1.0" encoding="GB2312"?>') == "gb18030"


# --- masking --------------------------------------------------------------------------


def test_mask_url_hides_query_secrets_and_passwords() -> None:
    masked = mask_url("socks5://user:pw@proxy.test:1080/?api_key=k1&q=ok")
    assert masked == "socks5://user:***@proxy.test:1080/?api_key=***&q=ok"
