"""Bodies for the fetcher: read a body under a size cap and decide its encoding.

The cap counts inflated bytes as they are inflated: ``read_capped`` reads the raw stream
and inflates it here, ``CHUNK`` bytes of output at a time (zlib's ``max_length``), so a
gzip bomb (1 MB that inflates to 1 GiB) is cut at the cap holding at most the cap plus
one chunk, instead of inflating a whole network read (up to ~1,000 times its size) first.
Only gzip and deflate are accepted (``ACCEPT_ENCODING``): the optional brotli and zstd
packages offer no bounded-output inflation in the versions httpx supports, and a body in
an encoding we did not ask for is refused as undecodable rather than parsed as garbage.

Encoding is decided once, by the fetcher, so that every parser can trust
``response.text``: a byte-order mark wins, then the ``charset`` of the Content-Type header,
then a ``<meta charset>``/``<meta http-equiv>`` or XML declaration in the first 2 KB, else
UTF-8. GBK and GB2312 labels decode as GB18030, their superset: Chinese pages labelled
GB2312 routinely contain characters only GBK/GB18030 have, which a strict GB2312 decoder
turns into replacement characters.
"""

from __future__ import annotations

import codecs
import re
import zlib
from collections.abc import Iterator
from contextlib import suppress

import httpx

SNIFF_BYTES = 2048
# The most bytes one step of inflation may produce (what the cap may be overshot by).
CHUNK = 64 * 1024
ACCEPT_ENCODING = "gzip, deflate"

_GB_LABELS = frozenset(
    {"gbk", "gb2312", "gb_2312", "gb_2312-80", "x-gbk", "cp936", "ms936", "csgb2312", "euc-cn"}
)
_CHARSET_PARAM = re.compile(r"charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:-]+)", re.IGNORECASE)
_META_CHARSET = re.compile(rb"<meta[^>]*?charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:-]+)", re.IGNORECASE)
_XML_ENCODING = re.compile(rb"<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9_.:-]+)", re.IGNORECASE)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Headers describing the bytes on the wire; a complete response holds decoded bytes.
_WIRE_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


def normalise_charset(label: str | None) -> str | None:
    """A Python codec name for a charset label, GB family widened to GB18030; None if unknown."""
    if not label:
        return None
    label = label.strip().lower()
    if label in _GB_LABELS:
        return "gb18030"
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    return "gb18030" if name in ("gbk", "gb2312") else name


def charset_from_content_type(content_type: str | None) -> str | None:
    """The codec named by a Content-Type header's ``charset`` parameter, if any and known."""
    if not content_type:
        return None
    m = _CHARSET_PARAM.search(content_type)
    return normalise_charset(m.group(1)) if m else None


def charset_from_markup(body: bytes) -> str | None:
    """The codec declared in the first 2 KB of an HTML or XML document, if any and known."""
    head = body[:SNIFF_BYTES]
    m = _META_CHARSET.search(head) or _XML_ENCODING.search(head)
    return normalise_charset(m.group(1).decode("ascii")) if m else None


def choose_encoding(content_type: str | None, body: bytes) -> str:
    """The encoding to decode ``body`` with (see the module docstring for the order)."""
    for bom, name in _BOMS:
        if body.startswith(bom):
            return name
    declared = charset_from_content_type(content_type)
    if declared:
        return declared
    ctype = (content_type or "").lower()
    # Only markup declares its own encoding; a JSON body that mentions "<meta charset"
    # inside a string must not be reinterpreted.
    if not ctype or "html" in ctype or "xml" in ctype:
        return charset_from_markup(body) or "utf-8"
    return "utf-8"


async def read_capped(response: httpx.Response, max_bytes: int) -> bytes | None:
    """The decoded body, or ``None`` as soon as it passes ``max_bytes`` (rest unread).

    Inflated bytes are counted as they are inflated (see the module docstring); a body
    that does not inflate raises ``httpx.DecodingError``.
    """
    if response.is_stream_consumed:  # handed over already read (a mock transport's answer)
        return response.content if len(response.content) <= max_bytes else None
    inflate = _inflater(response.headers.get("content-encoding", ""))
    if inflate is None:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            return None
    chunks: list[bytes] = []
    size = 0
    async for raw in response.aiter_raw():
        for chunk in inflate.feed(raw) if inflate else (raw,):
            size += len(chunk)
            if size > max_bytes:
                return None
            chunks.append(chunk)
    if inflate is not None:
        inflate.finish()
    return b"".join(chunks)


class _Inflater:
    """Inflates a stream through one zlib decoder per encoding, ``CHUNK`` bytes at a time."""

    def __init__(self, codings: list[str]) -> None:
        self._codings = codings
        self._steps = [_Step(c) for c in codings]

    def feed(self, data: bytes) -> Iterator[bytes]:
        """The inflated pieces of ``data`` (each at most ``CHUNK`` bytes), lazily."""
        pieces: Iterator[bytes] = iter((data,))
        for step in self._steps:
            pieces = step.feed_all(pieces)
        return pieces

    def finish(self) -> None:
        """Refuse a stream that ended inside a compressed block."""
        for coding, step in zip(self._codings, self._steps, strict=True):
            if not step.ended and step.started:
                raise httpx.DecodingError(f"truncated {coding} body")


class _Step:
    """One ``Content-Encoding`` layer. Deflate is zlib-wrapped by the RFC, raw by habit:
    like httpx, try the wrapper first and fall back to raw deflate."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        wbits = zlib.MAX_WBITS | 16 if coding in ("gzip", "x-gzip") else zlib.MAX_WBITS
        self._decoder = zlib.decompressobj(wbits)
        self.started = False

    @property
    def ended(self) -> bool:
        return self._decoder.eof

    def feed_all(self, pieces: Iterator[bytes]) -> Iterator[bytes]:
        for piece in pieces:
            yield from self._feed(piece)

    def _feed(self, data: bytes) -> Iterator[bytes]:
        while not self._decoder.eof:
            try:
                out = self._decoder.decompress(data, CHUNK)
            except zlib.error as exc:
                if self.coding != "deflate" or self.started:
                    raise httpx.DecodingError(f"undecodable {self.coding} body: {exc}") from exc
                self._decoder = zlib.decompressobj(-zlib.MAX_WBITS)
                self.coding = "raw deflate"
                continue
            self.started = self.started or bool(data)
            data = self._decoder.unconsumed_tail
            if out:
                yield out
            # A full chunk may leave output pending inside zlib even with no input left.
            if not data and len(out) < CHUNK:
                break


def _inflater(header: str) -> _Inflater | None:
    """The inflater for a ``Content-Encoding`` header (``None``: nothing to inflate).

    Encodings apply in the order listed, so they are undone in reverse.
    """
    codings = [c.strip().lower() for c in header.split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    if not codings:
        return None
    unknown = [c for c in codings if c not in ("gzip", "x-gzip", "deflate")]
    if unknown:
        raise httpx.DecodingError(f"unsupported Content-Encoding: {', '.join(unknown)}")
    return _Inflater(codings[::-1])


def complete_response(response: httpx.Response, body: bytes) -> httpx.Response:
    """A finished response holding the decoded ``body``, with its encoding decided."""
    headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in _WIRE_HEADERS]
    full = httpx.Response(
        response.status_code,
        headers=headers,
        content=body,
        request=response.request,
        history=response.history,
        extensions=response.extensions,
    )
    full.encoding = choose_encoding(response.headers.get("content-type"), body)
    with suppress(RuntimeError):  # unset when a transport hands over a pre-read response
        full.elapsed = response.elapsed
    return full
