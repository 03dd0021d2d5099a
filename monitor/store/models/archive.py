"""Public archiving: URLs handed to the Internet Archive's Save Page Now (SPN2), and what came
of each. Created by migration ``0006``.

A row is a *request* to archive until the status endpoint confirms a capture: only then does it
carry ``timestamp`` and ``archive_url`` (a submission is not an archive). The table is the
queue, so it survives restarts; ``archive_cursors`` remembers how far the collector has read
the images and alerts tables.
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
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from monitor.store.models.base import Base, BigId, UtcDateTime


class ArchiveCapture(Base):
    """One URL to capture for one reason: a watched person's image page when first seen
    (``trigger_key`` ``page``: once per URL), or an engine's result URL at a confirmed drop
    (``alert:<id>``: once per alert)."""

    __tablename__ = "archive_captures"
    __table_args__ = (
        UniqueConstraint("url_hash", "trigger_key"),
        Index("ix_archive_captures_due", "state", "next_at"),
        Index("ix_archive_captures_image", "image_id"),
        Index("ix_archive_captures_alert", "alert_id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    url_hash: Mapped[bytes] = mapped_column(LargeBinary(16))
    trigger: Mapped[str] = mapped_column(String(16))  # first_seen | drop
    trigger_key: Mapped[str] = mapped_column(String(40))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    image_id: Mapped[int | None] = mapped_column(ForeignKey("images.id", ondelete="SET NULL"))
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id", ondelete="SET NULL"))
    state: Mapped[str] = mapped_column(String(16))  # queued | submitted | archived | failed
    job_id: Mapped[str | None] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime] = mapped_column(UtcDateTime)  # next submission or status poll
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    submitted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    archived_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    timestamp: Mapped[str | None] = mapped_column(String(14))  # the capture's, YYYYMMDDhhmmss
    archive_url: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)


class ArchiveCursor(Base):
    """The last ``images.id`` / ``alerts.id`` the collector has looked at."""

    __tablename__ = "archive_cursors"
    name: Mapped[str] = mapped_column(String(16), primary_key=True)  # images | alerts
    last_id: Mapped[int] = mapped_column(BigInteger)
