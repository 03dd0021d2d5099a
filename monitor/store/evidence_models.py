"""Evidence tables beyond the core schema: kept thumbnails (issue 6).

``thumbnails`` has one row per image whose thumbnail was kept: the file's SHA-256 (the file
name, so identical bytes are stored once), its perceptual hash (same photo across engines
and URLs), and where it lies relative to the thumbnail directory. Created by migration
``0002``; this module must be imported wherever ``Base.metadata`` has to be complete.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from monitor.store.models import Base, UtcDateTime


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
