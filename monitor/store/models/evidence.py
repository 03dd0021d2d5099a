"""Evidence kept beyond the snapshot rows: compressed raw responses, local copies of
thumbnails (content-addressed by SHA-256, with a perceptual hash), and the holds that keep an
alert's evidence from retention. ``thumbnails`` was created by migration ``0002``; the
response's metadata and ``evidence_holds`` by ``0003``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from monitor.store.models.base import Base, BigId, UtcDateTime


class RawResponse(Base):
    """A compressed response body kept as evidence (last healthy check, drop confirmations)."""

    __tablename__ = "raw_responses"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    snapshot_id: Mapped[int] = mapped_column(
        ForeignKey("snapshots.id", ondelete="CASCADE"), unique=True
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str | None] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(Integer)
    body_gz: Mapped[bytes] = mapped_column(LargeBinary)
    # healthy (the series' last normal answer) | suspect (a check while a drop is pending or
    # open) | pre_drop | confirming | recovery (held for an alert)
    reason: Mapped[str] = mapped_column(String(32))
    final_url: Mapped[str | None] = mapped_column(Text)  # after redirects, secrets masked
    http_status: Mapped[int | None] = mapped_column(Integer)
    request: Mapped[str | None] = mapped_column(Text)  # JSON: method, url, headers (masked)


class Thumbnail(Base):
    """A local copy of an image's thumbnail, content-addressed by SHA-256."""

    __tablename__ = "thumbnails"
    image_id: Mapped[int] = mapped_column(
        ForeignKey("images.id", ondelete="CASCADE"), primary_key=True
    )
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    phash: Mapped[str | None] = mapped_column(String(16), index=True)  # 64-bit hex
    path: Mapped[str] = mapped_column(Text)  # relative to the thumbnail directory
    size: Mapped[int] = mapped_column(Integer)  # bytes on disk
    content_type: Mapped[str] = mapped_column(String(32))  # image/jpeg, image/png, ...
    fetched_at: Mapped[datetime] = mapped_column(UtcDateTime)


class EvidenceHold(Base):
    """An alert's claim on a kept response (``snapshot_id``) or thumbnail (``image_id``):
    retention skips it until ``released_at`` (``evidence release``) or, when configured,
    ``evidence.alert_retention`` after ``created_at``."""

    __tablename__ = "evidence_holds"
    __table_args__ = (
        Index("ix_evidence_holds_snapshot", "snapshot_id"),
        Index("ix_evidence_holds_image", "image_id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))  # pre_drop|confirming|recovery|vanished
    snapshot_id: Mapped[int | None] = mapped_column(ForeignKey("snapshots.id", ondelete="CASCADE"))
    image_id: Mapped[int | None] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    released_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
