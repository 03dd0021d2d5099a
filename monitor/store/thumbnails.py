"""SQL of kept thumbnails: which images have one, how many there are, where the files lie,
which photos still shown for a person match a vanished one by perceptual hash, and an
alert's kept thumbnails (``alert_thumbnails``: what a mail embeds as ``cid:`` images)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.core.phash import PHASH_MAX_DISTANCE, hamming
from monitor.store.models import (
    Alert,
    EvidenceHold,
    Image,
    Series,
    SeriesImage,
    SourceRow,
    Thumbnail,
)


def kept_ids(session: Session, image_ids: Sequence[int]) -> set[int]:
    """The images of ``image_ids`` that already have a kept thumbnail."""
    out: set[int] = set()
    for start in range(0, len(image_ids), 500):
        chunk = list(image_ids[start : start + 500])
        out.update(session.scalars(select(Thumbnail.image_id).where(Thumbnail.image_id.in_(chunk))))
    return out


def thumbnail_count(session: Session) -> int:
    """Kept thumbnails in all (``evidence.max_thumbnails`` caps it)."""
    return session.scalar(select(func.count()).select_from(Thumbnail)) or 0


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
        select(SeriesImage.series_id, SeriesImage.image_id, SourceRow.name, Thumbnail.phash, Image)
        .join(Series, Series.id == SeriesImage.series_id)
        .join(SourceRow, SourceRow.id == Series.source_id)
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


def images_first_seen(session: Session, since: datetime) -> list[Image]:
    """Images first seen at or after ``since`` (a round's new images), in id order."""
    return list(session.scalars(select(Image).where(Image.first_seen >= since).order_by(Image.id)))


@dataclass(frozen=True, slots=True)
class KeptThumbnail:
    """A kept copy of one of an alert's vanished images, as a mail attaches it."""

    image_id: int
    image_url: str
    content_type: str
    sha256: str
    path: Path

    @property
    def data(self) -> bytes:
        """The file's bytes (read when asked: a mail caps how many it embeds)."""
        return self.path.read_bytes()


def alert_thumbnails(
    session: Session, directory: Path | None, alert_id: int
) -> dict[str, KeptThumbnail]:
    """The kept thumbnails of ``alert_id``'s vanished images still on disk, by the image URL
    the payload's ``vanished_images`` name: the images the alert holds, else (an alert from
    before holds existed) the payload's URLs looked up as stored."""
    if directory is None:
        return {}
    ids = list(
        session.scalars(
            select(EvidenceHold.image_id).where(
                EvidenceHold.alert_id == alert_id, EvidenceHold.image_id.is_not(None)
            )
        )
    )
    if not ids:
        alert = session.get(Alert, alert_id)
        vanished = (alert.payload or {}).get("vanished_images") if alert is not None else None
        urls = [v["image_url"] for v in vanished or [] if isinstance(v, dict) and "image_url" in v]
        ids = (
            list(session.scalars(select(Image.id).where(Image.image_url.in_(urls)))) if urls else []
        )
    out: dict[str, KeptThumbnail] = {}
    rows = session.execute(
        select(Image.id, Image.image_url, Thumbnail)
        .join(Thumbnail, Thumbnail.image_id == Image.id)
        .where(Image.id.in_(ids))
        .order_by(Image.id)
    )
    for image_id, image_url, thumb in rows:
        path = directory / thumb.path
        if path.is_file():
            out[image_url] = KeptThumbnail(
                image_id, image_url, thumb.content_type, thumb.sha256, path
            )
    return out
