"""Evidence: what vanished, where it is still seen, and what the engine actually sent.

- ``vanished_images``: the images of the last valid check before a drop's first confirming
  check that are missing from the current one, each with first/last seen and the other
  sources where the same image is still in the latest result set (the same URL, or, when
  thumbnails are kept, the same photo by perceptual hash).
- ``keep_raw``: the compressed body, final URL, status and request (masked) of a check
  (a round keeps its checks' bodies together: ``monitor.store.bodies``).
  ``healthy``: the series' last answer while it was normal; one per series, superseded by
  the next one (an unchanged body is moved to the newer snapshot, not written again), so
  when the first sign of a drop arrives the answer before it is still there. ``suspect``: a
  check while a drop is pending or open; never supersedes the healthy one. An alert then
  holds what it needs (``monitor.store.retention.hold``: pre-drop, confirming, recovery),
  and ``db prune`` removes only what no alert holds.
- ``pre_drop_snapshot``: the snapshot whose body was the series' healthy one when the first
  sign of a drop arrived.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.alerts.payload import vanished_image
from monitor.alerts.schema import VanishedImage
from monitor.core.observation import OBSERVATION_VALUES, ImageItem, Status
from monitor.detector.events import Event
from monitor.store.archive import archived_pages
from monitor.store.bodies import RawBody as RawBody  # its home before bodies.py: importers
from monitor.store.bodies import ToKeep, healthy_rows, keep_bodies
from monitor.store.models import (
    Image,
    ImageSetMember,
    RawResponse,
    Series,
    SeriesImage,
    Snapshot,
    SourceRow,
)
from monitor.store.thumbnails import same_photo_elsewhere

MAX_VANISHED = 100


def keep_raw(session: Session, snap: Snapshot, body: RawBody | None, reason: str) -> None:
    """Keep ``body`` as ``reason`` (``healthy`` or ``suspect``) for ``snap`` (see module
    docstring): one check's share of what ``keep_bodies`` writes for a round."""
    if body is None:
        return
    kept = healthy_rows(session, [snap.series_id])
    keep_bodies(session, kept, [ToKeep(snap.id, snap.series_id, snap.finished_at, body, reason)])


def pre_drop_snapshot(session: Session, series_id: int, first_sign: int) -> int | None:
    """The snapshot of the series' last answer while normal before ``first_sign``: its
    healthy body, or one an earlier alert of the same episode already holds as pre-drop."""
    return session.scalar(
        select(RawResponse.snapshot_id)
        .join(Snapshot, Snapshot.id == RawResponse.snapshot_id)
        .where(
            Snapshot.series_id == series_id,
            Snapshot.id < first_sign,
            RawResponse.reason.in_(("healthy", "pre_drop")),
        )
        .order_by(Snapshot.id.desc())
        .limit(1)
    )


def _set_of(session: Session, set_id: int | None) -> set[int]:
    if set_id is None:
        return set()
    return set(
        session.scalars(select(ImageSetMember.image_id).where(ImageSetMember.set_id == set_id))
    )


def vanished_images(session: Session, series_id: int, event: Event) -> dict[int, VanishedImage]:
    """Images present before the drop and missing now, by image id (see module docstring)."""
    ids = event.snapshot_ids
    if not ids:
        return {}
    first, last = min(ids), max(ids)
    before = session.scalar(
        select(Snapshot)
        .where(
            Snapshot.series_id == series_id,
            Snapshot.id < first,
            Snapshot.status == Status.OK.value,
            Snapshot.excluded.is_(False),
        )
        .order_by(Snapshot.id.desc())
        .limit(1)
    )
    current = session.get(Snapshot, last)
    if before is None or current is None:
        return {}
    gone = _set_of(session, before.image_set_id) - _set_of(session, current.image_set_id)
    if not gone:
        return {}
    series = session.get(Series, series_id)
    assert series is not None
    still = _still_seen(session, series, gone)
    # With kept thumbnails, the same photo under another URL counts too (perceptual hash).
    for image_id, matches in same_photo_elsewhere(session, series_id, sorted(gone)).items():
        for match in matches:
            if match.source not in still.get(image_id, []):
                still.setdefault(image_id, []).append(match.source)
    rows = session.execute(
        select(Image, SeriesImage)
        .join(SeriesImage, SeriesImage.image_id == Image.id)
        .where(SeriesImage.series_id == series_id, Image.id.in_(gone))
        .order_by(SeriesImage.first_seen, Image.id)
        .limit(MAX_VANISHED)
    )
    found = rows.all()
    archived = archived_pages(session, [img.id for img, _ in found])
    out = {}
    for img, si in found:
        item = ImageItem(img.image_url, img.thumb_url, img.page_url, img.title, img.domain)
        last_seen = before.finished_at if si.seen_open else si.last_seen
        out[img.id] = vanished_image(
            item,
            si.first_seen,
            last_seen,
            still.get(img.id, ()),
            archived_page=archived.get(img.id),
        )
    return out


def _still_seen(session: Session, series: Series, image_ids: set[int]) -> dict[int, list[str]]:
    """For each image, the other sources whose latest valid result of this person has it."""
    out: dict[int, list[str]] = {}
    others = session.execute(
        select(Series.id, SourceRow.name)
        .join(SourceRow, SourceRow.id == Series.source_id)
        .where(Series.person_id == series.person_id, Series.source_id != series.source_id)
    ).all()
    for other_id, name in others:
        latest = session.scalar(
            select(Snapshot.image_set_id)
            .where(
                Snapshot.series_id == other_id,
                Snapshot.status.in_(OBSERVATION_VALUES),
            )
            .order_by(Snapshot.id.desc())
            .limit(1)
        )
        for image_id in _set_of(session, latest) & image_ids:
            out.setdefault(image_id, []).append(name)
    return out


def kept_raw(session: Session, snapshot_id: int) -> RawResponse | None:
    """The raw response kept as evidence for ``snapshot_id`` (None: none was kept)."""
    return session.scalar(select(RawResponse).where(RawResponse.snapshot_id == snapshot_id))
