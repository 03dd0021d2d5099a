"""Evidence: what vanished, where it is still seen, and what the engine actually sent.

- ``vanished_images``: the images of the last valid check before a drop's first confirming
  check that are missing from the current one, each with first/last seen and the other
  sources where the same image is still in the latest result set (the same URL, or, when
  thumbnails are kept, the same photo by perceptual hash).
- ``keep_raw``: the compressed body, final URL, status and request (masked) of a check.
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

import gzip
import hashlib
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.alerts.payload import vanished_image
from monitor.alerts.schema import VanishedImage
from monitor.core.observation import OBSERVATION_VALUES, ImageItem, Observation, Status
from monitor.detector.events import Event
from monitor.store.archive import archived_pages
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


@dataclass(slots=True)
class RawBody:
    """A response body ready to keep, made as soon as its check ends (``RawBody.ready``):
    hashed at once and then either compressed at once, or, when it equals the series' kept
    healthy body, reduced to its digest (an unchanged answer is not written again, and a
    kept copy with that body copies the kept row). Either way the raw bytes leave memory
    before the round is written."""

    sha256: str
    content_type: str | None
    size: int
    raw: bytes | None
    final_url: str | None = None
    http_status: int | None = None
    request: str | None = None
    _gz: bytes | None = None

    @classmethod
    def of(cls, obs: Observation) -> RawBody | None:
        """The keepable body of ``obs``, hashed: only answers that observed something (``ok``
        or ``no_results``) can be a drop's evidence or the last healthy response."""
        if obs.raw is None or not obs.status.is_observation:
            return None
        digest = hashlib.sha256(obs.raw).hexdigest()
        return cls(
            digest,
            obs.raw_content_type,
            len(obs.raw),
            obs.raw,
            obs.raw_url,
            obs.http_status,
            obs.raw_request,
        )

    @classmethod
    def ready(
        cls, obs: Observation, kept_digest: str | None, *, compress: bool = True
    ) -> RawBody | None:
        """The body of ``obs`` compressed (or, if it is ``kept_digest`` or not to be kept,
        only hashed), with the raw bytes dropped from both the body and ``obs``."""
        body = cls.of(obs)
        obs.raw = None
        if body is not None:
            if compress and body.sha256 != kept_digest:
                body.compress()
            body.raw = None
        return body

    @property
    def unchanged(self) -> bool:
        """Only the digest is left: the body equals the series' kept healthy body."""
        return self.raw is None and self._gz is None

    def compress(self) -> None:
        """Compress the body now (once), so that writing it later costs no CPU."""
        if self._gz is None and self.raw is not None:
            self._gz = gzip.compress(self.raw, compresslevel=6)

    @property
    def body_gz(self) -> bytes:
        """The gzip-compressed body (compressed now if it was not already)."""
        self.compress()
        if self._gz is None:
            raise ValueError("an unchanged body has no bytes of its own")
        return self._gz


def healthy_digests(session: Session, series_ids: Collection[int]) -> dict[int, str]:
    """The SHA-256 of each series' kept healthy body (a round compresses only bodies that
    differ: an unchanged answer is not written again)."""
    rows = session.execute(
        select(Snapshot.series_id, RawResponse.sha256)
        .join(Snapshot, Snapshot.id == RawResponse.snapshot_id)
        .where(Snapshot.series_id.in_(series_ids), RawResponse.reason == "healthy")
    )
    return {series_id: digest for series_id, digest in rows}


def keep_raw(session: Session, snap: Snapshot, body: RawBody | None, reason: str) -> None:
    """Keep ``body`` as ``reason`` (``healthy`` or ``suspect``) for ``snap`` (see module
    docstring)."""
    if body is None:
        return
    if reason == "healthy":
        current = session.scalars(
            select(RawResponse)
            .join(Snapshot, Snapshot.id == RawResponse.snapshot_id)
            .where(Snapshot.series_id == snap.series_id, RawResponse.reason == "healthy")
        ).all()
        same = next((r for r in current if r.sha256 == body.sha256), None)
        for row in current:
            if row is not same:
                session.delete(row)
        if same is not None:
            # The same answer again: point the kept copy at this, the latest, check.
            same.snapshot_id, same.created_at = snap.id, snap.finished_at
            same.final_url, same.http_status = body.final_url, body.http_status
            same.request = body.request
            return
    body_gz = body.body_gz if not body.unchanged else _kept_copy(session, snap, body.sha256)
    if body_gz is None:
        return
    session.add(
        RawResponse(
            snapshot_id=snap.id,
            created_at=snap.finished_at,
            sha256=body.sha256,
            content_type=body.content_type,
            size=body.size,
            body_gz=body_gz,
            reason=reason,
            final_url=body.final_url,
            http_status=body.http_status,
            request=body.request,
        )
    )


def _kept_copy(session: Session, snap: Snapshot, digest: str) -> bytes | None:
    """The stored bytes of a body of this series with ``digest`` (its bytes left memory when
    its check ended because the series' kept body was the same)."""
    return session.scalar(
        select(RawResponse.body_gz)
        .join(Snapshot, Snapshot.id == RawResponse.snapshot_id)
        .where(Snapshot.series_id == snap.series_id, RawResponse.sha256 == digest)
        .limit(1)
    )


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
