"""Bodies for the fetcher: read a body under a size cap and decide its encoding.

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
from contextlib import suppress

import httpx

SNIFF_BYTES = 2048

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

    Counting decoded bytes also stops a small gzip body that inflates without end.
    """
    if "content-encoding" not in response.headers:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


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
