"""What the checks saw: one snapshot per check, identical result sets stored once
(``image_sets``), and when each image was first and last seen in a series.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from monitor.core.observation import Status
from monitor.store.models.base import Base, BigId, HexDigest, UtcDateTime, UtcMicros


class Image(Base):
    """An image, identified by its normalised URL (digest for a compact unique index)."""

    __tablename__ = "images"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    url_hash: Mapped[bytes] = mapped_column(LargeBinary(16), unique=True)
    image_url: Mapped[str] = mapped_column(Text)
    thumb_url: Mapped[str | None] = mapped_column(Text)
    page_url: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text)
    domain: Mapped[str | None] = mapped_column(String(255))
    first_seen: Mapped[datetime] = mapped_column(UtcDateTime)


class ImageSet(Base):
    """A distinct set of images, stored once however many snapshots saw it."""

    __tablename__ = "image_sets"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    digest: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    size: Mapped[int] = mapped_column(Integer)


class ImageSetMember(Base):
    __tablename__ = "image_set_members"
    set_id: Mapped[int] = mapped_column(
        ForeignKey("image_sets.id", ondelete="CASCADE"), primary_key=True
    )
    image_id: Mapped[int] = mapped_column(
        ForeignKey("images.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)


class Snapshot(Base):
    """One check, failed or not. Only ``ok``/``no_results`` carry counts."""

    __tablename__ = "snapshots"
    __table_args__ = (
        Index("ix_snapshots_series_id", "series_id", "id"),
        Index("ix_snapshots_log_seq", "log_seq", unique=True),
        # Partial: only a cluster's checks have an id (no NULL entry per snapshot).
        Index(
            "ix_snapshots_check_id",
            "check_id",
            unique=True,
            sqlite_where=text("check_id IS NOT NULL"),
            postgresql_where=text("check_id IS NOT NULL"),
        ),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("series.id", ondelete="CASCADE"))
    # Not indexed (migration 0009): no query finds snapshots by round, and rounds are never
    # deleted, so the SET NULL never has to look for them.
    round_id: Mapped[int | None] = mapped_column(ForeignKey("rounds.id", ondelete="SET NULL"))
    # 8 bytes each, not 26 (``UtcMicros``, migration 0009).
    started_at: Mapped[datetime] = mapped_column(UtcMicros)
    finished_at: Mapped[datetime] = mapped_column(UtcMicros)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    http_status: Mapped[int | None] = mapped_column(Integer)
    image_count: Mapped[int | None] = mapped_column(Integer)
    reported_total: Mapped[int | None] = mapped_column(BigInteger)
    domain_count: Mapped[int | None] = mapped_column(Integer)
    pages: Mapped[int] = mapped_column(Integer, default=0)
    elapsed_ms: Mapped[int] = mapped_column(Integer, default=0)
    image_set_id: Mapped[int | None] = mapped_column(ForeignKey("image_sets.id"))
    excluded: Mapped[bool] = mapped_column(default=False)  # part of an engine incident
    # The response body's SHA-256 as checked (kept or not), and the snapshot log
    # (``store.snapshot_log``): position in the chain and link; migration 0005.
    # Both digests stored as their 32 bytes, read as hex (``HexDigest``, migration 0008).
    body_sha256: Mapped[str | None] = mapped_column(HexDigest)
    log_seq: Mapped[int | None] = mapped_column(BigInteger)
    log_hash: Mapped[str | None] = mapped_column(HexDigest)
    # Cluster mode: the id the node gave the check (``staged_checks``), unique so that a
    # check forwarded twice is stored once; NULL in single-daemon mode. Migration 0007.
    check_id: Mapped[str | None] = mapped_column(String(36))
    # Cluster mode: True for a check stored after later checks of its series were judged
    # (forwarded late from a node's spool; ``rounds.close``), NULL otherwise. Reads of a
    # series' latest check skip it. Migration 0010.
    late: Mapped[bool | None] = mapped_column(default=None)

    @property
    def status_enum(self) -> Status:
        return Status(self.status)


class SeriesImage(Base):
    """When each image was first and last seen in a series (i.e. on one source)."""

    __tablename__ = "series_images"
    series_id: Mapped[int] = mapped_column(
        ForeignKey("series.id", ondelete="CASCADE"), primary_key=True
    )
    image_id: Mapped[int] = mapped_column(
        ForeignKey("images.id", ondelete="CASCADE"), primary_key=True
    )
    first_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    seen_open: Mapped[bool] = mapped_column(default=True)  # still in the latest valid set
    __table_args__ = (Index("ix_series_images_image", "image_id"),)
