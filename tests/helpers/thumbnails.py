"""An app that keeps thumbnails, with snapshots seeded straight into its database.

Shared by the thumbnail tests and the vanished-image evidence tests:

- ``make_app`` builds a migrated SQLite app (Chen Yixin on ``baidu`` and ``bing``) whose
  clock stands at ``NOW``; ``seed`` records one ok check with the given items.
- ``serving`` gives a ``Fetcher`` answering from a dict of URLs (404 otherwise) and the list
  of URLs it was asked for; ``keep`` runs ``keep_thumbnails`` as the round would.
- ``photo`` draws a deterministic picture with structure (a flat image has no meaningful
  pHash); the same seed at another size or format is the same photo to pHash.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import httpx
from PIL import Image as PILImage
from PIL import ImageDraw
from sqlalchemy import select

from monitor.app import App, build
from monitor.config import parse_config
from monitor.core.observation import ImageItem, Observation, Status
from monitor.evidence.thumbnails import keep_thumbnails
from monitor.fetch.client import Fetcher
from monitor.fetch.guard import AddressGuard
from monitor.store import catalog
from monitor.store.models import Image
from monitor.store.snapshots import record_snapshot

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


async def public(host: str, port: int) -> list[str]:
    """A resolver for the tests' made-up hosts: every name is one public (TEST-NET-free)
    address. Nothing connects to it: these tests fetch through ``httpx.MockTransport``."""
    return ["93.184.216.34"]


async def keep(
    app: App, fetcher: Fetcher, images: list[Image], guard: AddressGuard | None = None
) -> int:
    """``keep_thumbnails`` with the app's settings, directory and clock."""
    return await keep_thumbnails(
        app.sessions,
        fetcher,
        images,
        settings=app.config.evidence,
        directory=app.thumbnail_dir,
        clock=app.clock,
        guard=guard or AddressGuard(resolver=public),
    )


def photo(seed: int, size: tuple[int, int] = (160, 120), fmt: str = "PNG") -> bytes:
    """A deterministic 'photo' with structure (a flat image has no meaningful pHash)."""
    im = PILImage.new("RGB", size, (30 + seed * 40 % 200, 90, 140))
    draw = ImageDraw.Draw(im)
    w, h = size
    for i in range(6):
        k = (seed * 7 + i * 13) % 10
        box = (w * k // 12, h * ((i * 3 + seed) % 8) // 10, w * (k + 3) // 12, h * 9 // 10)
        draw.rectangle(box, fill=((i * 50 + seed * 30) % 255, (i * 90) % 255, 255 - i * 30))
    draw.ellipse((w // 3, h // 5, w * 2 // 3, h // 2 + seed * 3), fill=(250, 240, 200))
    out = io.BytesIO()
    im.save(out, fmt, quality=80) if fmt == "JPEG" else im.save(out, fmt)
    return out.getvalue()


def make_app(tmp_path: Path, evidence: str = "  keep_thumbnails: true\n") -> App:
    text = f"""\
database:
  url: sqlite:///{tmp_path / "m.db"}
people:
  - name: Chen Yixin
sources:
  baidu:
    kind: baidu_images
  bing:
    kind: bing_images
evidence:
{evidence}"""
    app = build(parse_config(text, "config.yaml", {}), channels=[], clock=lambda: NOW)
    app.migrate()
    return app


def seed(app: App, source: str, items: list[ImageItem]) -> list[Image]:
    """One ok check of Chen Yixin on ``source`` with ``items``; returns their image rows."""
    with app.sessions() as session, session.begin():
        refs = [r for r in catalog.sync(session, app.config) if r.source == source]
        record_snapshot(
            session,
            series_id=refs[0].series_id,
            observation=Observation(Status.OK, items=items),
            started_at=NOW,
            finished_at=NOW,
        )
    with app.sessions() as session:
        rows = {i.image_url: i for i in session.scalars(select(Image))}
    return [rows[i.image_url] for i in items]


def serving(files: dict[str, bytes | httpx.Response]) -> tuple[Fetcher, list[str]]:
    """A fetcher whose transport answers from ``files`` by URL; records each URL asked."""
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        body = files.get(str(request.url))
        if body is None:
            return httpx.Response(404, text="not found")
        if isinstance(body, httpx.Response):
            return body
        return httpx.Response(200, content=body, headers={"Content-Type": "image/png"})

    async def no_sleep(_: float) -> None:
        return None

    return Fetcher(transport=httpx.MockTransport(handler), sleep=no_sleep), asked


def item(n: int, host: str = "img.test") -> ImageItem:
    return ImageItem(
        f"https://{host}/full/{n}.jpg", f"https://{host}/thumb/{n}", f"https://news.test/{n}"
    )
