"""Kept thumbnails: bounded, content-addressed next to the database, recognised by pHash."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import httpx
import pytest
from PIL import Image as PILImage
from sqlalchemy import select

from monitor.app import App
from monitor.core.phash import PHASH_MAX_DISTANCE, hamming
from monitor.evidence.phash import inspect_image
from monitor.evidence.thumbnails import fetch_url
from monitor.store import catalog
from monitor.store.models import Image, Thumbnail
from monitor.store.thumbnails import same_photo_elsewhere
from tests.helpers.thumbnails import item, keep, make_app, photo, seed, serving


def noisy_png(side: int) -> bytes:
    """A PNG that does not compress (random-looking pixels), to exceed a byte cap."""
    data = hashlib.shake_256(b"noise").digest(side * side * 3)
    out = io.BytesIO()
    PILImage.frombytes("RGB", (side, side), data).save(out, "PNG")
    return out.getvalue()


def thumbs(app: App) -> list[Thumbnail]:
    with app.sessions() as session:
        return list(session.scalars(select(Thumbnail).order_by(Thumbnail.image_id)))


async def test_nothing_is_fetched_when_thumbnails_are_off(tmp_path: Path) -> None:
    app = make_app(tmp_path, evidence="  keep_thumbnails: false\n")
    images = seed(app, "baidu", [item(1)])
    fetcher, asked = serving({"https://img.test/thumb/1": photo(1)})
    async with fetcher:
        assert await keep(app, fetcher, images) == 0
    assert asked == [] and thumbs(app) == []


async def test_thumbnail_is_kept_content_addressed_next_to_the_database(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    images = seed(app, "baidu", [item(1)])
    data = photo(1)
    fetcher, asked = serving({"https://img.test/thumb/1": data})
    async with fetcher:
        assert await keep(app, fetcher, images) == 1
    assert asked == ["https://img.test/thumb/1"]  # the thumbnail, not the full image
    sha = hashlib.sha256(data).hexdigest()
    [row] = thumbs(app)
    assert (row.sha256, row.path, row.size) == (sha, f"{sha[:2]}/{sha}.png", len(data))
    assert row.content_type == "image/png" and row.phash and len(row.phash) == 16
    assert (tmp_path / "m-thumbnails" / row.path).read_bytes() == data


async def test_an_image_is_fetched_only_the_first_time_it_is_seen(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    images = seed(app, "baidu", [item(1)])
    fetcher, asked = serving({"https://img.test/thumb/1": photo(1)})
    async with fetcher:
        await keep(app, fetcher, images)
        assert await keep(app, fetcher, images) == 0
    assert len(asked) == 1 and len(thumbs(app)) == 1


async def test_identical_bytes_at_two_urls_are_one_file(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    images = seed(app, "baidu", [item(1), item(2)])
    data = photo(1)
    fetcher, _ = serving({"https://img.test/thumb/1": data, "https://img.test/thumb/2": data})
    async with fetcher:
        assert await keep(app, fetcher, images) == 2
    rows = thumbs(app)
    assert len({r.path for r in rows}) == 1
    files = [p for p in (tmp_path / "m-thumbnails").rglob("*") if p.is_file()]
    assert len(files) == 1


async def test_a_thumbnail_over_the_byte_cap_is_not_kept(tmp_path: Path) -> None:
    app = make_app(tmp_path, evidence="  keep_thumbnails: true\n  max_thumbnail_bytes: 4096\n")
    images = seed(app, "baidu", [item(1)])
    big = noisy_png(64)
    assert len(big) > 4096
    fetcher, asked = serving({"https://img.test/thumb/1": big})
    async with fetcher:
        assert await keep(app, fetcher, images) == 0
    assert asked and thumbs(app) == []
    assert not (tmp_path / "m-thumbnails").exists()


async def test_the_count_of_kept_thumbnails_is_bounded(tmp_path: Path) -> None:
    app = make_app(tmp_path, evidence="  keep_thumbnails: true\n  max_thumbnails: 2\n")
    images = seed(app, "baidu", [item(1), item(2), item(3)])
    files: dict[str, bytes | httpx.Response] = {
        f"https://img.test/thumb/{n}": photo(n) for n in (1, 2, 3)
    }
    fetcher, asked = serving(files)
    async with fetcher:
        assert await keep(app, fetcher, images) == 2
        assert await keep(app, fetcher, images) == 0
    assert len(thumbs(app)) == 2 and len(asked) == 2


async def test_a_page_instead_of_an_image_or_a_404_is_not_kept(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    images = seed(app, "baidu", [item(1), item(2)])
    html = httpx.Response(200, text="<html>captcha</html>", headers={"Content-Type": "text/html"})
    fetcher, asked = serving({"https://img.test/thumb/1": html})  # thumb/2 is a 404
    async with fetcher:
        assert await keep(app, fetcher, images) == 0
    assert len(asked) == 2 and thumbs(app) == []


def test_only_http_urls_are_fetched() -> None:
    assert fetch_url(Image(image_url="ftp://x.test/a.jpg", thumb_url="javascript:alert(1)")) is None
    assert fetch_url(Image(image_url="//x.test/a.jpg", thumb_url=None)) == "https://x.test/a.jpg"
    assert fetch_url(
        Image(image_url="https://x.test/a.jpg", thumb_url="data:image/png;base64,")
    ) == ("https://x.test/a.jpg")


def test_same_photo_resized_and_recompressed_is_within_the_distance() -> None:
    original = inspect_image(photo(1))
    copy = inspect_image(photo(1, size=(120, 90), fmt="JPEG"))
    other = inspect_image(photo(4))
    assert copy.sha256 != original.sha256  # different bytes, different URL ...
    assert hamming(original.phash, copy.phash) <= PHASH_MAX_DISTANCE  # ... same photo
    assert hamming(original.phash, other.phash) > PHASH_MAX_DISTANCE


def test_a_non_image_is_refused_by_inspection() -> None:
    with pytest.raises(ValueError, match="not an image"):
        inspect_image(b"<html>hello</html>")


async def test_vanished_photo_is_found_on_another_source_under_another_url(
    tmp_path: Path,
) -> None:
    app = make_app(tmp_path)
    [on_baidu, stays] = seed(app, "baidu", [item(1), item(9)])
    [on_bing, unrelated] = seed(app, "bing", [item(7, "tse.bing.test"), item(8, "tse.bing.test")])
    files: dict[str, bytes | httpx.Response] = {
        "https://img.test/thumb/1": photo(1),
        "https://img.test/thumb/9": photo(5),
        "https://tse.bing.test/thumb/7": photo(1, size=(120, 90), fmt="JPEG"),
        "https://tse.bing.test/thumb/8": photo(4),
    }
    fetcher, _ = serving(files)
    async with fetcher:
        assert await keep(app, fetcher, [on_baidu, stays, on_bing, unrelated]) == 4
    seed(app, "baidu", [item(9)])  # image 1 vanishes from baidu
    with app.sessions() as session:
        baidu = next(r for r in catalog.sync(session, app.config) if r.source == "baidu")
        found = same_photo_elsewhere(session, baidu.series_id, [on_baidu.id])
    [match] = found[on_baidu.id]
    assert (match.source, match.other_image_url) == ("bing", "https://tse.bing.test/full/7.jpg")
    assert not match.same_url and match.distance <= PHASH_MAX_DISTANCE


@pytest.mark.parametrize("location", ["http://a:abc/x", "/x\x7fy", "http://a:99999/x"])
async def test_a_redirect_to_an_invalid_url_loses_only_that_thumbnail(
    tmp_path: Path, location: str
) -> None:
    # A hostile Location (httpx refuses to build the next request) fails that fetch only.
    app = make_app(tmp_path)
    images = seed(app, "baidu", [item(1), item(2)])
    hop = httpx.Response(302, headers={"Location": location})
    fetcher, _ = serving({"https://img.test/thumb/1": hop, "https://img.test/thumb/2": photo(2)})
    async with fetcher:
        assert await keep(app, fetcher, images) == 1
    assert [t.image_id for t in thumbs(app)] == [images[1].id]
