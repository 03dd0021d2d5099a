"""Bodies (``monitor.fetch.body``): read under a size cap counted after decompression,
decoded in the charset the page declares (GBK pages too), and URLs masked for logs.

HTTP goes through ``httpx.MockTransport`` with plain router functions (``tests.helpers.fetch``).
"""

from __future__ import annotations

import gzip
import struct
import tracemalloc
import zlib
from collections.abc import AsyncIterator

import httpx
import pytest

from monitor.core.masking import mask_url
from monitor.core.observation import Status
from monitor.fetch.body import CHUNK, choose_encoding
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


# --- decompression bombs ----------------------------------------------------------------

GIB = 1 << 30


def _bomb(coding: str, size: int = GIB) -> bytes:
    """``size`` zero bytes compressed as ``coding``: about 1 MB for 1 GiB, a valid stream.

    Built fast: after a full flush a deflate stream starts afresh, so every further
    megabyte of zeros compresses to the same bytes; only the trailer needs the whole sum.
    """
    wbits = {"gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS}.get(coding, -zlib.MAX_WBITS)
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    block = bytes(1 << 20)
    head = packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH)
    again = packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH)
    end = packer.flush()
    blocks = size // len(block)
    if coding == "gzip":
        crc = 0
        for _ in range(blocks):
            crc = zlib.crc32(block, crc)
        end = end[:-8] + struct.pack("<II", crc, size & 0xFFFFFFFF)
    elif coding == "deflate":
        adler = 1
        for _ in range(blocks):
            adler = zlib.adler32(block, adler)
        end = end[:-4] + struct.pack(">I", adler)
    return head + again * (blocks - 1) + end


def test_the_bomb_is_what_it_says() -> None:
    for coding in ("gzip", "deflate", "raw-deflate"):
        bomb = _bomb(coding, 64 << 20)
        wbits = {"gzip": 31, "deflate": 15}.get(coding, -15)
        assert zlib.decompress(bomb, wbits) == bytes(64 << 20)
    assert len(_bomb("gzip")) < 1_100_000


class _Chunked(httpx.AsyncByteStream):
    """The body in 64 KB network reads, as a socket hands it over."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self.body), 65536):
            yield self.body[start : start + 65536]


@pytest.mark.parametrize("coding", ["gzip", "deflate", "raw-deflate"])
async def test_a_decompression_bomb_is_cut_at_the_cap_holding_cap_plus_one_chunk(
    coding: str,
) -> None:
    bomb = _bomb(coding)
    header = "deflate" if coding == "raw-deflate" else coding
    cap = 8_000_000

    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=_Chunked(bomb), headers={"Content-Encoding": header})

    async with make_fetcher(handler) as fetcher:
        tracemalloc.start()
        try:
            result = await fetcher.fetch(get(), FetchPolicy(interval=0.0, max_bytes=cap))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert len(bomb) < 1_100_000
    assert result.status is Status.PARSE_ERROR
    assert result.reason == f"response too large (> {cap} bytes)"
    # Held: the inflated bytes up to the cap, one chunk past it, one network read of the
    # compressed body; 1 MB for the rest of the fetch (request, headers, client).
    assert peak < cap + CHUNK + 65536 + 1_000_000, peak


@pytest.mark.parametrize("coding", ["gzip", "deflate", "raw-deflate", "gzip, gzip"])
async def test_a_compressed_body_under_the_cap_arrives_whole(coding: str) -> None:
    body = ("图片 " * 100_000).encode()
    if coding == "gzip, gzip":
        wire, header = gzip.compress(gzip.compress(body)), coding
    else:
        wire, header = _bomb_of(body, coding), "deflate" if coding == "raw-deflate" else coding

    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=_Chunked(wire), headers={"Content-Encoding": header})

    async with make_fetcher(handler) as fetcher:
        result = await fetcher.fetch(get(), FAST)
    assert result.response is not None and result.response.content == body


def _bomb_of(body: bytes, coding: str) -> bytes:
    wbits = {"gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS}.get(coding, -zlib.MAX_WBITS)
    packer = zlib.compressobj(6, zlib.DEFLATED, wbits)
    return packer.compress(body) + packer.flush()


@pytest.mark.parametrize(
    ("header", "wire", "reason"),
    [
        ("br", b"\x8b\x02\x80hello\x03", "undecodable body: unsupported Content-Encoding: br"),
        ("gzip", gzip.compress(bytes(range(256)) * 100)[:200], "undecodable body: truncated gzip"),
        ("gzip", b"not gzip at all", "undecodable body: undecodable gzip body"),
    ],
    ids=["unasked-brotli", "truncated-gzip", "not-gzip"],
)
async def test_a_body_that_does_not_inflate_is_parse_error(
    header: str, wire: bytes, reason: str
) -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=_Chunked(wire), headers={"Content-Encoding": header})

    async with make_fetcher(handler) as fetcher:
        result = await fetcher.fetch(get(), FAST)
    assert result.status is Status.PARSE_ERROR
    assert (result.reason or "").startswith(reason), result.reason


async def test_only_encodings_inflated_with_a_bound_are_asked_for() -> None:
    handler, seen = sequence(httpx.Response(200, content=b"ok"))
    async with make_fetcher(handler) as fetcher:
        await fetcher.fetch(get(), FAST)
    assert seen[0].headers["Accept-Encoding"] == "gzip, deflate"
