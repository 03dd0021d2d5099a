"""Read-only queries behind the report's gallery of vanished images, as plain rows.

Each function takes a ``Session`` and returns ``VanishedRow`` rows, ids, flags or dicts,
never model objects (``monitor.report.vanished`` merges them into the gallery). An image
"vanished" from a series when its ``series_images`` row has ``seen_open`` false: it left that
series' latest valid result set. Nothing here writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.core.observation import ImageItem
from monitor.store.models import Image, Series, SeriesImage, SourceRow, Term
from monitor.store.snapshot_batch import url_hash


class VanishedRow(NamedTuple):
    """An image that left a series' latest valid result set, with what is known of it."""

    image_id: int
    series_id: int
    image_url: str
    thumb_url: str | None
    page_url: str | None
    title: str | None
    domain: str | None
    source: str
    term: str
    first_seen: datetime
    last_seen: datetime


def vanished_rows(
    session: Session, series_ids: Sequence[int], limit: int
) -> tuple[list[VanishedRow], int]:
    """The images gone from the latest valid result set of any of ``series_ids`` (at most
    ``limit``, last seen most recently first, then by image id), and how many there are."""
    if not series_ids:
        return [], 0
    gone = (SeriesImage.series_id.in_(list(series_ids))) & (SeriesImage.seen_open.is_(False))
    total = session.scalar(select(func.count()).select_from(SeriesImage).where(gone)) or 0
    rows = session.execute(
        select(SeriesImage, Image, SourceRow.name, Term.text)
        .join(Image, Image.id == SeriesImage.image_id)
        .join(Series, Series.id == SeriesImage.series_id)
        .join(SourceRow, SourceRow.id == Series.source_id)
        .join(Term, Term.id == Series.term_id)
        .where(gone)
        .order_by(SeriesImage.last_seen.desc(), Image.id)
        .limit(limit)
    ).all()
    out = [
        VanishedRow(
            img.id,
            si.series_id,
            img.image_url,
            img.thumb_url,
            img.page_url,
            img.title,
            img.domain,
            source,
            term,
            si.first_seen,
            si.last_seen,
        )
        for si, img, source, term in rows
    ]
    return out, total


def image_state(session: Session, image_url: str, series_id: int | None) -> tuple[int | None, bool]:
    """(image id, shown again) of the image stored under ``image_url``: the id is None when
    no such image is stored; shown again is true when it is in the latest result set of
    ``series_id`` (always false for no series)."""
    image_id = session.scalar(
        select(Image.id).where(Image.url_hash == url_hash(ImageItem(image_url)))
    )
    if image_id is None or series_id is None:
        return image_id, False
    si = session.get(SeriesImage, (series_id, image_id))
    return image_id, bool(si is not None and si.seen_open)


def sources_showing(
    session: Session, series_ids: Sequence[int], image_ids: Sequence[int]
) -> dict[int, set[str]]:
    """For each image of ``image_ids``, the sources whose latest result set of a series among
    ``series_ids`` holds it; images no such set holds are absent."""
    if not series_ids or not image_ids:
        return {}
    where: dict[int, set[str]] = {}
    for image_id, source in session.execute(
        select(SeriesImage.image_id, SourceRow.name)
        .join(Series, Series.id == SeriesImage.series_id)
        .join(SourceRow, SourceRow.id == Series.source_id)
        .where(
            SeriesImage.series_id.in_(list(series_ids)),
            SeriesImage.seen_open.is_(True),
            SeriesImage.image_id.in_(list(image_ids)),
        )
    ).all():
        where.setdefault(image_id, set()).add(source)
    return where
