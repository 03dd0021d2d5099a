"""Kept thumbnails: what was erased stays viewable, and the same photo is recognised anywhere.

Contract (``evidence.keep_thumbnails``, on by default):

- ``keep_thumbnails(sessions, fetcher, images, settings=, directory=, clock=, guard=)``
  fetches the thumbnail (else the image) of each given image that has no kept copy yet,
  through the shared fetcher (politeness per host, ``evidence.max_thumbnail_bytes`` enforced
  while streaming; ``guard``, a ``monitor.fetch.guard.AddressGuard``, asked before the
  request and each redirect, so a scraped URL never reaches an internal address), checks
  with Pillow that it is an image, and stores it content-addressed
  (``ab/<sha256>.<ext>``) in the thumbnail directory: ``evidence.thumbnail_dir``, else
  ``<database stem>-thumbnails`` next to the SQLite file. Identical bytes are stored once.
  It stops at ``evidence.max_thumbnails`` rows and never raises for a failed fetch, a URL
  that does not make a request (a scraped CR, a bad port: skipped and counted in the log
  line) or a non-image: that image simply has no copy.
- Each kept thumbnail has a perceptual hash (ImageHash's 64-bit pHash); two photos whose
  hashes differ in at most ``PHASH_MAX_DISTANCE`` bits are taken to be the same photo.
  ``monitor.store.thumbnails.same_photo_elsewhere`` uses it to say "still seen on bing
  (same photo, different URL)".
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import httpx
from sqlalchemy.orm import Session, sessionmaker

from monitor.config import EvidenceConfig
from monitor.core.clock import Clock
from monitor.core.logs import clip
from monitor.evidence.phash import Decoded, inspect_image
from monitor.fetch.client import Fetcher, FetchPolicy
from monitor.fetch.guard import AddressGuard
from monitor.store.db import sqlite_path
from monitor.store.models import Image, Thumbnail
from monitor.store.thumbnails import kept_ids, thumbnail_count

logger = logging.getLogger(__name__)

IN_FLIGHT = 4
_ACCEPT = "image/avif,image/webp,image/png,image/jpeg,image/*;q=0.8,*/*;q=0.5"


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


def remove_files(directory: Path | None, rels: Iterable[str]) -> None:
    """Delete kept files no row points at any more (after retention pruned their rows)."""
    if directory is None:
        return
    for rel in rels:
        target = (directory / rel).resolve()
        if target.is_relative_to(directory.resolve()):  # a stored path never leaves the dir
            target.unlink(missing_ok=True)


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


async def keep_thumbnails(
    sessions: sessionmaker[Session],
    fetcher: Fetcher,
    images: Iterable[Image],
    *,
    settings: EvidenceConfig,
    directory: Path | None,
    clock: Clock,
    guard: AddressGuard,
) -> int:
    """Keep a local copy of each image's thumbnail (see module docstring); returns how many
    new copies were recorded."""
    if not settings.keep_thumbnails:
        return 0
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

    def known() -> tuple[set[int], int]:
        with sessions() as session:
            return set(kept_ids(session, list(wanted))), thumbnail_count(session)

    have, count = await asyncio.to_thread(known)  # database work stays off the event loop
    room = settings.max_thumbnails - count
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
        guard=guard,
    )
    gate = asyncio.Semaphore(IN_FLIGHT)
    invalid = 0

    async def one(image_id: int, url: str) -> Thumbnail | None:
        nonlocal invalid
        try:
            request = httpx.Request("GET", url, headers={"Accept": _ACCEPT})
        except (httpx.InvalidURL, ValueError) as exc:  # scraped: a CR, a bad port, ...
            invalid += 1
            logger.info("thumbnail of image %d not kept: invalid URL: %s", image_id, clip(exc))
            return None
        async with gate:
            result = await fetcher.fetch(request, policy)
        if not result.ok or result.response is None:
            logger.info("thumbnail of image %d not kept: %s", image_id, clip(result.reason))
            return None
        try:
            decoded = await asyncio.to_thread(inspect_image, result.response.content)
        except ValueError as exc:
            logger.info("thumbnail of image %d not kept: %s", image_id, clip(exc))
            return None
        rel = await asyncio.to_thread(store_file, directory, decoded)
        return Thumbnail(
            image_id=image_id,
            sha256=decoded.sha256,
            phash=decoded.phash,
            path=rel,
            size=len(decoded.data),
            content_type=decoded.content_type,
            fetched_at=clock(),
        )

    rows = [r for r in await asyncio.gather(*(one(i, u) for i, u in todo)) if r is not None]

    def record() -> list[Thumbnail]:
        with sessions() as session, session.begin():
            # Another process may have kept some of them while we were fetching.
            taken = kept_ids(session, [r.image_id for r in rows])
            fresh = [r for r in rows if r.image_id not in taken]
            session.add_all(fresh)
        return fresh

    fresh = await asyncio.to_thread(record)
    skipped = f"; {invalid} with an invalid URL skipped" if invalid else ""
    logger.info("kept %d thumbnail(s) of %d new image(s)%s", len(fresh), len(todo), skipped)
    return len(fresh)
