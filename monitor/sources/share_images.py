"""An outlet's default share image: the picture a news page offers when it has none of its own.

News pages name a social image (``og:image``) for every article; when the article has no
photo, the outlet's template fills in its logo or a house graphic. Counting those as
pictures of a person would let a logo stand in for a vanished photo, so sources whose
images come from ``og:image`` (GDELT) leave them out. An image is a default share image when

- its file or folder name says so: ``logo``, ``og-image``, ``default``, ``placeholder``,
  ``share``, ``fallback`` and their spellings (``ogImage``, ``default_share.png``,
  ``/logos/``), and nothing in its path identifies one picture: no long number, hash or
  UUID (``…/e35738ac-…/full/max/0/default.jpg`` is an IIIF photo, ``OG-10693553-1200.jpg``
  an article's own crop, ``FB_IMG_1784706203626.jpg`` a photo saved from Facebook), or
- one outlet uses the same image on ``repeats`` or more of its articles in one answer
  (a story photo is rarely reused that often within days; a house image always is).

Pure functions; the caller keeps the raw answer, so nothing is lost from the evidence.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

from monitor.core.observation import ImageItem

# Whole words of a file name (its stem split at non-letters) that mark a house image.
_WORDS = frozenset(
    {"logo", "logos", "default", "placeholder", "share", "sharing", "fallback", "og", "ogimage"}
)
# The same glued together, as template authors write them: ogImage, defaultShare, og_img.
_GLUED = re.compile(r"^(og|share|social|default|fb)[-_]?(image|img|share|card|thumb)")
# Folder names that hold only house images.
_FOLDERS = frozenset(
    {"logo", "logos", "og", "og-image", "og-images", "placeholder", "placeholders", "share"}
)
_SPLIT = re.compile(r"[^a-z0-9]+")
# A token naming one picture: 5+ digits in a row, or a hex run of 8+ with a digit in it.
_IDENTIFIER = re.compile(r"\d{5,}|(?=[0-9a-f]*\d)[0-9a-f]{8,}")


def looks_like_default(image_url: str) -> bool:
    """True when the image's file or folder name marks it as a house image."""
    try:
        path = unquote(urlsplit(image_url).path).lower()
    except ValueError:
        return False
    if any(_IDENTIFIER.fullmatch(t) or _IDENTIFIER.search(t) for t in _SPLIT.split(path)):
        return False  # this path names one particular picture
    *folders, name = path.rstrip("/").split("/") or [""]
    stem = name.rsplit(".", 1)[0]
    words = [w for w in _SPLIT.split(stem) if w]
    if any(w in _WORDS or w.startswith("logo") for w in words):
        return True
    if _GLUED.match(stem.replace("-", "").replace("_", "")):
        return True
    return any(f in _FOLDERS for f in folders)


def default_images(items: Iterable[ImageItem], repeats: int) -> frozenset[str]:
    """Keys of the items' images that are default share images (see the module docstring).

    Repetition is counted per outlet (``domain``, else the page's host): two outlets
    printing the same agency photo is news, one outlet printing it on every page is not.
    """
    pages: dict[tuple[str, str], set[str]] = {}
    named: set[str] = set()
    for item in items:
        try:
            outlet, key = item.with_domain().domain or "", item.key
            default = looks_like_default(item.image_url)
        except ValueError:  # an unparseable URL: the check skips and counts the item
            continue
        pages.setdefault((outlet, key), set()).add(item.page_url or "")
        if default:
            named.add(key)
    repeated = {key for (_, key), on in pages.items() if len(on) >= repeats}
    return frozenset(repeated | named)
