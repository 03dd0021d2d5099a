"""Writing checks as snapshots, and reading series history back.

Contract of ``record_snapshot``: it adds one ``Snapshot`` row for any observation, failed or
not, inside the caller's transaction (the caller commits it together with detector state and
alert rows). For ``ok``/``no_results`` it also stores the image set, de-duplicated:

- each image is stored once, keyed by a 16-byte digest of its normalised URL;
- each distinct set of images is stored once, keyed by a digest of its members;
- ``series_images`` (first and last seen per series) is touched only when the set differs
  from the series' previous valid set. An unchanged result costs one snapshot row.

A round stores its checks together, planned before its write transaction and written in a
few statements (``monitor.store.snapshot_batch``); ``record_snapshot`` is one such check.

A failed check never has an image set and never counts as zero: its ``image_count`` is NULL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from monitor.core.observation import OBSERVATION_VALUES, Observation
from monitor.store.models import Image, SeriesImage, Snapshot
from monitor.store.snapshot_batch import NewSnapshot, plan_snapshots, write_snapshots


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
    response body's SHA-256 (the snapshot log commits to it, kept or not): a round of one
    check, planned and written in the caller's transaction."""
    check = NewSnapshot(series_id, observation, started_at, finished_at, body_sha256)
    written = write_snapshots(session, plan_snapshots(session, [check]), round_id)
    snap = session.get(Snapshot, written.ids[series_id])
    assert snap is not None
    return snap


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
