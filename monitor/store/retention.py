"""Retention: raw responses are evidence for a while, an alert's evidence until released;
counts are kept forever.

- ``hold(session, alert_id, snapshots, images, now)``: the alert claims kept responses
  (by snapshot, with a role: ``pre_drop``, ``confirming``, ``recovery``) and the kept
  thumbnails of its vanished images. A held response leaves the series' ``healthy`` slot
  (its reason becomes the role), so the next normal answer does not supersede it.
- ``release(session, alert_id, now)``: the user lets retention have them again
  (``evidence release``); returns how many holds were released.
- ``prune(session, cutoff, held_since=...)``: deletes the raw responses created before
  ``cutoff`` that no active hold claims, and the thumbnail rows of images gone from every
  current result set, fetched before ``cutoff`` and not held; returns what it removed and
  the thumbnail files no row points at any more (the caller deletes them). A hold is active
  until released, or, with ``evidence.alert_retention``, until it is older than that
  (``held_since``: holds created before it count as released).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, and_, delete, exists, func, select, update
from sqlalchemy.orm import Session

from monitor.store.models import Alert, EvidenceHold, RawResponse, SeriesImage, Thumbnail


@dataclass(frozen=True, slots=True)
class Pruned:
    """What one retention pass removed (or, with ``dry_run``, would remove)."""

    removed: int
    cutoff: datetime
    dry_run: bool = False
    thumbnails: int = 0
    held: int = 0  # raw responses past the cutoff kept because an alert holds them
    orphan_files: list[str] = field(default_factory=list)  # relative to the thumbnail dir

    def __str__(self) -> str:
        verb = "would remove" if self.dry_run else "removed"
        return (
            f"{verb} {self.removed} raw response(s) and {self.thumbnails} thumbnail(s) older "
            f"than {self.cutoff:%Y-%m-%d %H:%M} UTC; {self.held} kept as an alert's evidence"
        )


def hold(
    session: Session,
    alert_id: int,
    snapshots: Mapping[int, str],
    images: Sequence[int],
    now: datetime,
) -> None:
    """Hold the responses of ``snapshots`` (snapshot id -> role) and the thumbnails of
    ``images`` for ``alert_id`` (see module docstring)."""
    for snapshot_id, role in snapshots.items():
        session.add(
            EvidenceHold(alert_id=alert_id, role=role, snapshot_id=snapshot_id, created_at=now)
        )
        session.execute(
            update(RawResponse)
            .where(RawResponse.snapshot_id == snapshot_id)
            .values(reason=role)
            .execution_options(synchronize_session=False)
        )
    for image_id in dict.fromkeys(images):
        session.add(
            EvidenceHold(alert_id=alert_id, role="vanished", image_id=image_id, created_at=now)
        )


def release(session: Session, alert_id: int, now: datetime) -> int | None:
    """Release every active hold of ``alert_id``; returns how many were released (None: no
    such alert)."""
    if session.get(Alert, alert_id) is None:
        return None
    result = session.execute(
        update(EvidenceHold)
        .where(EvidenceHold.alert_id == alert_id, EvidenceHold.released_at.is_(None))
        .values(released_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def held_snapshots(session: Session, alert_id: int) -> dict[int, str]:
    """The responses ``alert_id`` holds: snapshot id -> role (released ones included)."""
    rows = session.execute(
        select(EvidenceHold.snapshot_id, EvidenceHold.role).where(
            EvidenceHold.alert_id == alert_id, EvidenceHold.snapshot_id.is_not(None)
        )
    )
    return {snapshot_id: role for snapshot_id, role in rows if snapshot_id is not None}


def _active(held_since: datetime | None) -> ColumnElement[bool]:
    active: ColumnElement[bool] = EvidenceHold.released_at.is_(None)
    if held_since is not None:
        active = and_(active, EvidenceHold.created_at >= held_since)
    return active


def prune(
    session: Session,
    cutoff: datetime,
    *,
    held_since: datetime | None = None,
    dry_run: bool = False,
) -> Pruned:
    """Apply retention inside the caller's transaction (see module docstring)."""
    active = _active(held_since)
    raw_held = exists().where(EvidenceHold.snapshot_id == RawResponse.snapshot_id, active)
    old = RawResponse.created_at < cutoff
    count = session.scalar(select(func.count()).where(old, ~raw_held)) or 0
    held = session.scalar(select(func.count()).where(old, raw_held)) or 0
    thumb_held = exists().where(EvidenceHold.image_id == Thumbnail.image_id, active)
    still_shown = exists().where(
        SeriesImage.image_id == Thumbnail.image_id, SeriesImage.seen_open.is_(True)
    )
    gone = session.execute(
        select(Thumbnail.image_id, Thumbnail.path).where(
            Thumbnail.fetched_at < cutoff, ~still_shown, ~thumb_held
        )
    ).all()
    orphans: list[str] = []
    if not dry_run:
        if count:
            session.execute(
                delete(RawResponse)
                .where(old, ~raw_held)
                .execution_options(synchronize_session=False)
            )
        if gone:
            ids = [image_id for image_id, _ in gone]
            for start in range(0, len(ids), 500):
                session.execute(
                    delete(Thumbnail)
                    .where(Thumbnail.image_id.in_(ids[start : start + 500]))
                    .execution_options(synchronize_session=False)
                )
            paths = sorted({path for _, path in gone})
            still = set(session.scalars(select(Thumbnail.path).where(Thumbnail.path.in_(paths))))
            orphans = [p for p in paths if p not in still]
    return Pruned(int(count), cutoff, dry_run, len(gone), int(held), orphans)
