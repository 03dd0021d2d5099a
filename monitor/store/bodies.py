"""Kept response bodies, a round at a time: made ready as each check ends, written in bulk.

``RawBody.ready`` hashes and compresses a body the moment its check ends (or, when it equals
the series' kept healthy body, keeps only its digest), so no raw bytes wait for the round's
write. ``healthy_rows`` reads, before the write transaction, the kept healthy body of each
series; ``keep_bodies`` then only writes (the rules are ``monitor.store.evidence``'s): a
``healthy`` body supersedes the series' previous one (the same body again moves the kept
row to the newer check instead of writing it again), a ``suspect`` one is added beside it.
A body reduced to its digest is copied from the kept row inside the database (``INSERT ...
SELECT``): its bytes never come back into memory.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, delete, insert, literal, select, update
from sqlalchemy.orm import Session

from monitor.core.observation import Observation
from monitor.store.models import RawResponse, Snapshot


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


@dataclass(frozen=True, slots=True)
class KeptRow:
    """A series' kept healthy body, as read before the write: its row and digest."""

    id: int
    sha256: str


@dataclass(frozen=True, slots=True)
class ToKeep:
    """A body to keep for the snapshot ``snapshot_id`` of ``series_id``, as ``reason``."""

    snapshot_id: int
    series_id: int
    at: datetime
    body: RawBody
    reason: str  # healthy | suspect


def healthy_rows(session: Session, series_ids: Collection[int]) -> dict[int, list[KeptRow]]:
    """Each series' kept healthy body (normally one), by series id (reads only)."""
    out: dict[int, list[KeptRow]] = {}
    ids = list(series_ids)
    for start in range(0, len(ids), 500):
        rows = session.execute(
            select(Snapshot.series_id, RawResponse.id, RawResponse.sha256)
            .join(Snapshot, Snapshot.id == RawResponse.snapshot_id)
            .where(
                Snapshot.series_id.in_(ids[start : start + 500]),
                RawResponse.reason == "healthy",
            )
            .order_by(RawResponse.id)
        )
        for series_id, row_id, digest in rows:
            out.setdefault(series_id, []).append(KeptRow(row_id, digest))
    return out


def healthy_digests(session: Session, series_ids: Collection[int]) -> dict[int, str]:
    """The SHA-256 of each series' kept healthy body (a round compresses only bodies that
    differ: an unchanged answer is not written again)."""
    return {sid: rows[-1].sha256 for sid, rows in healthy_rows(session, series_ids).items()}


def keep_bodies(
    session: Session, healthy: Mapping[int, Sequence[KeptRow]], keeps: Sequence[ToKeep]
) -> None:
    """Write ``keeps`` given each series' ``healthy`` rows as read before (writes only)."""
    t = cast(Table, RawResponse.__table__)
    superseded: list[int] = []
    moved: list[dict[str, object]] = []
    added: list[dict[str, object]] = []
    copied: list[ToKeep] = []
    for k in keeps:
        if k.reason == "healthy":
            current = healthy.get(k.series_id, ())
            same = next((r for r in current if r.sha256 == k.body.sha256), None)
            superseded += [r.id for r in current if r is not same]
            if same is not None:
                # The same answer again: point the kept copy at this, the latest, check.
                moved.append({"row": same.id, **_columns(k, with_body=False)})
                continue
        if k.body.unchanged:
            copied.append(k)
        else:
            added.append(_columns(k, with_body=True))
    if superseded:
        session.execute(delete(t).where(t.c.id.in_(superseded)))
    if moved:
        session.execute(
            update(t)
            .where(t.c.id == bindparam("row"))
            .values({c: bindparam(c) for c in moved[0] if c != "row"}),
            moved,
        )
    if added:
        session.execute(insert(t), added)
    for k in copied:
        _copy_kept(session, k)


def _columns(k: ToKeep, *, with_body: bool) -> dict[str, object]:
    b = k.body
    row: dict[str, object] = {
        "snapshot_id": k.snapshot_id,
        "created_at": k.at,
        "final_url": b.final_url,
        "http_status": b.http_status,
        "request": b.request,
    }
    if with_body:
        row.update(
            sha256=b.sha256,
            content_type=b.content_type,
            size=b.size,
            body_gz=b.body_gz,
            reason=k.reason,
        )
    return row


def _copy_kept(session: Session, k: ToKeep) -> None:
    """Keep a body whose bytes left memory at check time (it equalled the series' kept
    body) by copying the stored bytes of a row of the series with that digest."""
    b, r = k.body, RawResponse
    source = (
        select(
            literal(k.snapshot_id),
            literal(k.at, r.created_at.type),
            literal(b.sha256),
            literal(b.content_type, r.content_type.type),
            literal(b.size),
            r.body_gz,
            literal(k.reason),
            literal(b.final_url, r.final_url.type),
            literal(b.http_status, r.http_status.type),
            literal(b.request, r.request.type),
        )
        .join(Snapshot, Snapshot.id == r.snapshot_id)
        .where(Snapshot.series_id == k.series_id, r.sha256 == b.sha256)
        .limit(1)
    )
    columns = [
        "snapshot_id",
        "created_at",
        "sha256",
        "content_type",
        "size",
        "body_gz",
        "reason",
        "final_url",
        "http_status",
        "request",
    ]
    session.execute(insert(cast(Table, RawResponse.__table__)).from_select(columns, source))
