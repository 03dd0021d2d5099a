"""Evidence kept beyond the snapshot rows: compressed raw responses and local copies of
thumbnails (content-addressed by SHA-256, with a perceptual hash). ``thumbnails`` was created
by migration ``0002``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    ForeignKey,
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
    reason: Mapped[str] = mapped_column(String(32))  # healthy | confirming


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
