"""Read-only queries behind the report's gallery of vanished images: where an image is
shown now.

Functions take a ``Session`` and return plain dicts, never model objects
(``monitor.report.vanished`` builds the gallery from alerts and these answers). An image is
shown by a series when its ``series_images`` row has ``seen_open`` true: it is in that
series' latest valid result set. Nothing here writes.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.core.observation import ImageItem
from monitor.store.models import Image, Series, SeriesImage, SourceRow
from monitor.store.snapshot_batch import url_hash


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


def image_ids(session: Session, image_urls: Sequence[str]) -> dict[str, int]:
    """The stored image id of each of ``image_urls`` (as given) that is stored."""
    if not image_urls:
        return {}
    by_hash = {url_hash(ImageItem(url)): url for url in image_urls}
    rows = session.execute(
        select(Image.url_hash, Image.id).where(Image.url_hash.in_(list(by_hash)))
    ).all()
    return {by_hash[bytes(h)]: int(i) for h, i in rows if bytes(h) in by_hash}
