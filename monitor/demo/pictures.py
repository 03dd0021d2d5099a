"""The demo's pictures: every image and thumbnail its engines list is served on 127.0.0.1.

With thumbnails kept by default, the demo must never reach the real CDNs its saved answers
name (``img*.baidu.com``, ``tse*.mm.bing.net``, ``upload.wikimedia.org``, the news sites).
So when an engine serves an answer:

- ``local_hit(hit, origin)`` moves a result's image URL to ``<origin>/picture/<host>/<path>``
  (one origin for every engine, so the same image keeps one URL across engines and "still
  seen on" works as with the real ones);
- ``localise(body, origin)`` rewrites the thumbnail URLs the answer formats write themselves
  (Baidu's ``thumbURL``, Bing's ``turl``, Baidu's mirrors) the same way, plain or with JSON's
  escaped slashes;
- ``picture(path)`` is what ``/picture/...`` answers: a small PNG drawn from the path, the
  same every time and different per path (so perceptual hashes tell the pictures apart).
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import replace
from functools import cache

from PIL import Image, ImageDraw

from monitor.demo.results import Hit

PREFIX = "/picture/"
# The thumbnail hosts the answer formats write (see formats.py).
_THUMB = re.compile(
    r"https?:(\\?/)\1((?:img\d*\.baidu\.com|img\d*\.imgtn\.bdimg\.com|tse\d*-mm\.cn\.bing\.net"
    r"|upload\.wikimedia\.org))(?=\\?/)"
)


def local_url(url: str, origin: str) -> str:
    """``url`` (``https://host/path``) as the demo's local copy of it."""
    rest = url.split("://", 1)[1]
    return f"{origin}{PREFIX}{rest}"


def local_hit(hit: Hit, origin: str | None) -> Hit:
    """``hit`` with its image served by ``origin`` (unchanged without one)."""
    return hit if origin is None else replace(hit, image_url=local_url(hit.image_url, origin))


def localise(body: str, origin: str | None) -> str:
    """``body`` with the thumbnail URLs of the formats served by ``origin``."""
    if origin is None:
        return body

    def sub(m: re.Match[str]) -> str:
        slash = m.group(1)
        return f"{origin}{PREFIX}{m.group(2)}".replace("/", slash)

    return _THUMB.sub(sub, body)


@cache
def picture(path: str) -> bytes:
    """A 96×72 PNG determined by ``path`` (see module docstring)."""
    seed = hashlib.sha256(path.encode("utf-8")).digest()
    im = Image.new("RGB", (96, 72), (seed[0], seed[1], seed[2]))
    draw = ImageDraw.Draw(im)
    for i in range(8):
        x, y = seed[3 + i] % 80, seed[11 + i] % 60
        colour = (seed[19 + i], seed[(23 + i) % 32], seed[(27 + i) % 32])
        draw.rectangle((x, y, x + 8 + seed[i] % 30, y + 6 + seed[i + 1] % 24), fill=colour)
    out = io.BytesIO()
    im.save(out, "PNG")
    return out.getvalue()
