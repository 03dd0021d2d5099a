"""Writing checks as snapshots, and reading series history back.

Contract of ``record_snapshot``: it adds one ``Snapshot`` row for any observation, failed or
not, inside the caller's transaction (the caller commits it together with detector state and
alert rows). For ``ok``/``no_results`` it also stores the image set, de-duplicated:

- each image is stored once, keyed by a 16-byte digest of its normalised URL;
- each distinct set of images is stored once, keyed by a digest of its members;
- ``series_images`` (first and last seen per series) is touched only when the set differs
  from the series' previous valid set. An unchanged result costs one snapshot row.

A failed check never has an image set and never counts as zero: its ``image_count`` is NULL.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from monitor.core.observation import OBSERVATION_VALUES, ImageItem, Observation
from monitor.store.models import Image, ImageSet, ImageSetMember, SeriesImage, Snapshot


def url_hash(item: ImageItem) -> bytes:
    """16-byte key of an image: BLAKE2b of its normalised URL."""
    return hashlib.blake2b(item.key.encode("utf-8"), digest_size=16).digest()


def set_digest(hashes: Sequence[bytes]) -> bytes:
    """Digest of a set of images, independent of order."""
    h = hashlib.sha256()
    for x in sorted(hashes):
        h.update(x)
    return h.digest()


def record_snapshot(
    session: Session,
    *,
    series_id: int,
    observation: Observation,
    started_at: datetime,
    finished_at: datetime,
    round_id: int | None = None,
    body_sha256: str | None = None,
) -> Snapshot:
    """Store ``observation`` as a snapshot of ``series_id`` (see module docstring), with its
    response body's SHA-256 (the snapshot log commits to it, kept or not)."""
    obs = observation
    snap = Snapshot(
        series_id=series_id,
        round_id=round_id,
        started_at=started_at,
        finished_at=finished_at,
        status=obs.status.value,
        reason=obs.reason,
        http_status=obs.http_status,
        image_count=obs.image_count,
        reported_total=obs.reported_total,
        domain_count=obs.domain_count,
        pages=obs.pages,
        elapsed_ms=obs.elapsed_ms,
        body_sha256=body_sha256,
    )
    if obs.status.is_observation:
        items = obs.distinct_items
        previous_set = _previous_set_id(session, series_id)
        image_ids = _ensure_images(session, items, finished_at)
        snap.image_set_id = _ensure_set(session, [url_hash(i) for i in items], image_ids)
        if snap.image_set_id != previous_set:
            _update_sightings(session, series_id, previous_set, image_ids, finished_at)
    session.add(snap)
    session.flush()
    return snap


def _previous_set_id(session: Session, series_id: int) -> int | None:
    return session.scalar(
        select(Snapshot.image_set_id)
        .where(Snapshot.series_id == series_id, Snapshot.status.in_(OBSERVATION_VALUES))
        .order_by(Snapshot.id.desc())
        .limit(1)
    )


def _ensure_images(session: Session, items: list[ImageItem], now: datetime) -> list[int]:
    """Ids of ``items`` in order, inserting the images never seen before."""
    if not items:
        return []
    hashes = [url_hash(i) for i in items]
    known: dict[bytes, int] = {}
    for chunk_start in range(0, len(hashes), 500):
        chunk = hashes[chunk_start : chunk_start + 500]
        known.update(
            session.execute(select(Image.url_hash, Image.id).where(Image.url_hash.in_(chunk))).all()
        )
    fresh: dict[bytes, dict[str, object]] = {}
    for item, h in zip(items, hashes, strict=True):
        if h not in known and h not in fresh:
            fresh[h] = {
                "url_hash": h,
                "image_url": item.image_url,
                "thumb_url": item.thumb_url,
                "page_url": item.page_url,
                "title": item.title,
                "domain": item.domain,
                "first_seen": now,
            }
    if fresh:
        known.update(_insert_images(session, list(fresh.values())))
    return [known[h] for h in hashes]


def _insert_images(session: Session, rows: list[dict[str, object]]) -> dict[bytes, int]:
    """Insert images in bulk, skipping any another writer inserted meanwhile (``ON CONFLICT
    DO NOTHING``: a concurrent ``check`` and daemon never abort a round on ``url_hash``);
    returns the id of every one of them."""
    dialect = session.get_bind().dialect.name
    insert: Any
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - the two supported backends are above
        insert = None
    out: dict[bytes, int] = {}
    for start in range(0, len(rows), 500):
        chunk = rows[start : start + 500]
        if insert is not None:
            stmt = insert(Image).values(chunk).on_conflict_do_nothing(index_elements=["url_hash"])
            session.execute(stmt)
        else:
            session.add_all(Image(**row) for row in chunk)
            session.flush()
        hashes = [row["url_hash"] for row in chunk]
        out.update(
            session.execute(
                select(Image.url_hash, Image.id).where(Image.url_hash.in_(hashes))
            ).all()
        )
    return out


def _ensure_set(session: Session, hashes: list[bytes], image_ids: list[int]) -> int:
    digest = set_digest(hashes)
    existing = session.scalar(select(ImageSet.id).where(ImageSet.digest == digest))
    if existing is not None:
        return existing
    image_set = ImageSet(digest=digest, size=len(image_ids))
    session.add(image_set)
    session.flush()
    session.add_all(
        ImageSetMember(set_id=image_set.id, image_id=iid, position=pos)
        for pos, iid in enumerate(image_ids)
    )
    return image_set.id


def _update_sightings(
    session: Session,
    series_id: int,
    previous_set: int | None,
    image_ids: list[int],
    now: datetime,
) -> None:
    """Record which images arrived in and left this series' result set."""
    current = set(image_ids)
    rows = {
        r.image_id: r
        for r in session.scalars(
            select(SeriesImage).where(
                SeriesImage.series_id == series_id,
                (SeriesImage.seen_open.is_(True)) | (SeriesImage.image_id.in_(current)),
            )
        )
    }
    last_valid = _last_valid_time(session, series_id)
    for image_id, row in rows.items():
        if row.seen_open and image_id not in current:
            # It left: it was last seen by the previous valid check.
            row.seen_open = False
            row.last_seen = last_valid or row.last_seen
    for image_id in current:
        row_or_none = rows.get(image_id)
        if row_or_none is None:
            session.add(
                SeriesImage(
                    series_id=series_id,
                    image_id=image_id,
                    first_seen=now,
                    last_seen=now,
                    seen_open=True,
                )
            )
        elif not row_or_none.seen_open:
            row_or_none.seen_open = True
            row_or_none.last_seen = now


def _last_valid_time(session: Session, series_id: int) -> datetime | None:
    return session.scalar(
        select(Snapshot.finished_at)
        .where(Snapshot.series_id == series_id, Snapshot.status.in_(OBSERVATION_VALUES))
        .order_by(Snapshot.id.desc())
        .limit(1)
    )


@dataclass(frozen=True)
class Sighting:
    """An image as seen in one series, with its effective first and last sighting."""

    image: Image
    first_seen: datetime
    last_seen: datetime
    present: bool


def sightings(session: Session, series_id: int) -> list[Sighting]:
    """Every image ever seen in the series; open ones are last seen at the latest valid check."""
    latest = _last_valid_time(session, series_id)
    out = []
    rows = session.execute(
        select(SeriesImage, Image)
        .join(Image, Image.id == SeriesImage.image_id)
        .where(SeriesImage.series_id == series_id)
        .order_by(SeriesImage.first_seen, Image.id)
    )
    for si, img in rows:
        last = max(si.last_seen, latest) if si.seen_open and latest else si.last_seen
        out.append(Sighting(img, si.first_seen, last, si.seen_open))
    return out


def mark_excluded(session: Session, snapshot_ids: Sequence[int]) -> None:
    """Flag snapshots of an engine incident so they are not read as observations of a person."""
    if snapshot_ids:
        session.execute(
            update(Snapshot).where(Snapshot.id.in_(list(snapshot_ids))).values(excluded=True)
        )
