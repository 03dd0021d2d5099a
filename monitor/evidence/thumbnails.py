"""Kept thumbnails: what was erased stays viewable, and the same photo is recognised anywhere.

Contract (``evidence.keep_thumbnails``, off by default):

- ``keep_thumbnails(app, fetcher, images)`` fetches the thumbnail (else the image) of each
  given image that has no kept copy yet, through the shared fetcher (politeness per host,
  ``evidence.max_thumbnail_bytes`` enforced while streaming), checks with Pillow that it is
  an image, and stores it content-addressed (``ab/<sha256>.<ext>``) in the thumbnail
  directory: ``evidence.thumbnail_dir``, else ``<database stem>-thumbnails`` next to the
  SQLite file. Identical bytes are stored once. It stops at ``evidence.max_thumbnails`` rows
  and never raises for a failed fetch or a non-image: that image simply has no copy.
- Each kept thumbnail has a perceptual hash (ImageHash's 64-bit pHash); two photos whose
  hashes differ in at most ``PHASH_MAX_DISTANCE`` bits are taken to be the same photo.
  ``same_photo_elsewhere`` uses it to say "still seen on bing (same photo, different URL)".
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.fetch.client import Fetcher, FetchPolicy
from monitor.store.db import sqlite_path
from monitor.store.models import Thumbnail
from monitor.store.models import Image, Series, SeriesImage, Source

if TYPE_CHECKING:
    from monitor.app import App

logger = logging.getLogger(__name__)

PHASH_MAX_DISTANCE = 6
# A "thumbnail" bigger than this is not one; refusing it before decoding also keeps a
# decompression bomb from ever being expanded.
MAX_PIXELS = 4096 * 4096
IN_FLIGHT = 4
FORMATS = {
    "JPEG": ("jpg", "image/jpeg"),
    "PNG": ("png", "image/png"),
    "GIF": ("gif", "image/gif"),
    "WEBP": ("webp", "image/webp"),
    "BMP": ("bmp", "image/bmp"),
}
_ACCEPT = "image/avif,image/webp,image/png,image/jpeg,image/*;q=0.8,*/*;q=0.5"


@dataclass(frozen=True, slots=True)
class Decoded:
    """A verified image: its bytes, content hash, perceptual hash and file type."""

    data: bytes
    sha256: str
    phash: str
    ext: str
    content_type: str


def inspect_image(data: bytes) -> Decoded:
    """Decode ``data`` as an image; ``ValueError`` when it is not one we keep."""
    # Imported here: pages that only read kept thumbnails need not load numpy and Pillow.
    import imagehash
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    try:
        with PILImage.open(io.BytesIO(data)) as im:
            if im.format not in FORMATS:
                raise ValueError(f"unsupported image format {im.format}")
            width, height = im.size
            if width * height > MAX_PIXELS:
                raise ValueError(f"{width}x{height} is too large for a thumbnail")
            im.load()
            phash = str(imagehash.phash(im.convert("RGB")))
            ext, content_type = FORMATS[im.format]
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ValueError(f"not an image: {exc}") from None
    return Decoded(data, hashlib.sha256(data).hexdigest(), phash, ext, content_type)


def hamming(a: str, b: str) -> int:
    """Bits that differ between two hex perceptual hashes."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


def same_photo(a: str, b: str, max_distance: int = PHASH_MAX_DISTANCE) -> bool:
    """True when two perceptual hashes are close enough to be the same photo."""
    return hamming(a, b) <= max_distance


def thumbnail_dir(configured: str | None, database_url: str) -> Path | None:
    """Where kept thumbnails go: ``configured``, else next to the SQLite file; None for a
    server database without a configured directory (there is no file to sit next to)."""
    if configured:
        return Path(configured)
    db = sqlite_path(database_url)
    if db is None:
        return None
    return db.parent / f"{db.stem}-thumbnails"


def store_file(directory: Path, decoded: Decoded) -> str:
    """Write ``decoded`` under its SHA-256 (once); returns the path relative to ``directory``."""
    rel = f"{decoded.sha256[:2]}/{decoded.sha256}.{decoded.ext}"
    target = directory / rel
    if target.exists():
        return rel
    target.parent.mkdir(parents=True, exist_ok=True)
    # Write then rename: a crash never leaves a truncated file under a valid hash name.
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(decoded.data)
        Path(tmp).replace(target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return rel


def fetch_url(image: Image) -> str | None:
    """The URL to keep for ``image``: its thumbnail, else the image itself (http(s) only)."""
    for url in (image.thumb_url, image.image_url):
        if not url:
            continue
        url = url.strip()
        if url.startswith("//"):
            url = "https:" + url
        if url.lower().startswith(("http://", "https://")):
            return url
    return None


async def keep_thumbnails(app: App, fetcher: Fetcher, images: Iterable[Image]) -> int:
    """Keep a local copy of each image's thumbnail (see module docstring); returns how many
    new copies were recorded."""
    settings = app.config.evidence
    if not settings.keep_thumbnails:
        return 0
    directory = app.thumbnail_dir
    if directory is None:
        logger.warning("thumbnails not kept: set evidence.thumbnail_dir for a non-SQLite database")
        return 0
    wanted: dict[int, str] = {}
    for image in images:
        url = fetch_url(image)
        if url is not None:
            wanted.setdefault(image.id, url)
    if not wanted:
        return 0
    with app.sessions() as session:
        have = _kept_ids(session, list(wanted))
        room = settings.max_thumbnails - (
            session.scalar(select(func.count()).select_from(Thumbnail)) or 0
        )
    todo = [(iid, url) for iid, url in wanted.items() if iid not in have][: max(room, 0)]
    if not todo:
        return 0
    policy = FetchPolicy(
        interval=0.5,
        concurrency=2,
        timeout=15.0,
        connect_timeout=10.0,
        max_bytes=settings.max_thumbnail_bytes,
        retries=0,  # a thumbnail is a nicety: never worth hammering a host for
    )
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def one(image_id: int, url: str) -> Thumbnail | None:
        async with gate:
            request = httpx.Request("GET", url, headers={"Accept": _ACCEPT})
            result = await fetcher.fetch(request, policy)
        if not result.ok or result.response is None:
            logger.info("thumbnail of image %d not kept: %s", image_id, result.reason)
            return None
        try:
            decoded = await asyncio.to_thread(inspect_image, result.response.content)
        except ValueError as exc:
            logger.info("thumbnail of image %d not kept: %s", image_id, exc)
            return None
        rel = await asyncio.to_thread(store_file, directory, decoded)
        return Thumbnail(
            image_id=image_id,
            sha256=decoded.sha256,
            phash=decoded.phash,
            path=rel,
            size=len(decoded.data),
            content_type=decoded.content_type,
            fetched_at=app.clock(),
        )

    rows = [r for r in await asyncio.gather(*(one(i, u) for i, u in todo)) if r is not None]
    with app.sessions() as session, session.begin():
        # Another process may have kept some of them while we were fetching.
        fresh = [
            r for r in rows if r.image_id not in _kept_ids(session, [r.image_id for r in rows])
        ]
        session.add_all(fresh)
    logger.info("kept %d thumbnail(s) of %d new image(s)", len(fresh), len(todo))
    return len(fresh)


def _kept_ids(session: Session, image_ids: Sequence[int]) -> set[int]:
    out: set[int] = set()
    for start in range(0, len(image_ids), 500):
        chunk = list(image_ids[start : start + 500])
        out.update(session.scalars(select(Thumbnail.image_id).where(Thumbnail.image_id.in_(chunk))))
    return out


def local_copies(session: Session, directory: Path, image_ids: Sequence[int]) -> dict[int, Path]:
    """The kept files of ``image_ids`` that are still on disk."""
    out: dict[int, Path] = {}
    for start in range(0, len(image_ids), 500):
        chunk = list(image_ids[start : start + 500])
        for image_id, rel in session.execute(
            select(Thumbnail.image_id, Thumbnail.path).where(Thumbnail.image_id.in_(chunk))
        ):
            path = directory / rel
            if path.is_file():
                out[image_id] = path
    return out


@dataclass(frozen=True, slots=True)
class SamePhoto:
    """A photo still in a current result set that matches a vanished image's pHash."""

    image_id: int  # the vanished image
    source: str
    other_image_id: int
    other_image_url: str
    distance: int

    @property
    def same_url(self) -> bool:
        return self.other_image_id == self.image_id


def same_photo_elsewhere(
    session: Session,
    series_id: int,
    image_ids: Sequence[int],
    max_distance: int = PHASH_MAX_DISTANCE,
) -> dict[int, list[SamePhoto]]:
    """For each image of ``image_ids`` (gone from ``series_id``), the photos with a close
    perceptual hash still in the latest result set of any series of the same person (the
    same source under another URL counts: the engine still shows the photo)."""
    series = session.get(Series, series_id)
    if series is None or not image_ids:
        return {}
    mine = dict(
        session.execute(
            select(Thumbnail.image_id, Thumbnail.phash).where(
                Thumbnail.image_id.in_(list(image_ids)), Thumbnail.phash.is_not(None)
            )
        ).all()
    )
    if not mine:
        return {}
    current = session.execute(
        select(SeriesImage.series_id, SeriesImage.image_id, Source.name, Thumbnail.phash, Image)
        .join(Series, Series.id == SeriesImage.series_id)
        .join(Source, Source.id == Series.source_id)
        .join(Thumbnail, Thumbnail.image_id == SeriesImage.image_id)
        .join(Image, Image.id == SeriesImage.image_id)
        .where(
            Series.person_id == series.person_id,
            SeriesImage.seen_open.is_(True),
            Thumbnail.phash.is_not(None),
        )
    )
    out: dict[int, list[SamePhoto]] = {}
    for other_series, other_id, source, other_hash, other in current:
        for image_id, phash in mine.items():
            if other_series == series_id and other_id == image_id:
                continue
            assert phash is not None and other_hash is not None
            distance = hamming(phash, other_hash)
            if distance <= max_distance:
                out.setdefault(image_id, []).append(
                    SamePhoto(image_id, source, other_id, other.image_url, distance)
                )
    for matches in out.values():
        matches.sort(key=lambda m: (m.distance, m.source, m.other_image_id))
    return out
