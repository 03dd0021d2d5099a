"""What happened and who was told: episodes (drop, unhealthy, stale), alerts, the episodes
each alert covers, and the outbox (one delivery per alert and channel, one row per attempt).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from monitor.store.models.base import Base, BigId, UtcDateTime


class Episode(Base):
    """A drop (or unhealthy/stale period) from opening to resolution."""

    __tablename__ = "episodes"
    __table_args__ = (Index("ix_episodes_series", "series_id", "id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    series_id: Mapped[int | None] = mapped_column(ForeignKey("series.id", ondelete="CASCADE"))
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(24))  # drop | unhealthy | stale
    metric: Mapped[str | None] = mapped_column(String(16))  # images | domains
    state: Mapped[str] = mapped_column(String(16))  # open | partial | resolved
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    baseline: Mapped[float | None] = mapped_column(Float)
    opened_snapshot_id: Mapped[int | None] = mapped_column(ForeignKey("snapshots.id"))


class Alert(Base):
    """One event worth telling someone; written in the same transaction as its snapshot."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_person", "person_id", "id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    event: Mapped[str] = mapped_column(String(24))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id", ondelete="SET NULL"))
    series_id: Mapped[int | None] = mapped_column(ForeignKey("series.id", ondelete="SET NULL"))
    episode_id: Mapped[int | None] = mapped_column(ForeignKey("episodes.id", ondelete="SET NULL"))
    snapshot_id: Mapped[int | None] = mapped_column(ForeignKey("snapshots.id", ondelete="SET NULL"))
    group_key: Mapped[str] = mapped_column(String(100))  # one message per group and channel
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)


class AlertEpisode(Base):
    """An episode an alert covers. A person alert covers the episodes of all the person's
    terms on the source (``Alert.episode_id`` names only its headline term's), also those
    folded into it later (another term dropping, or recovering, while the person is down)."""

    __tablename__ = "alert_episodes"
    __table_args__ = (Index("ix_alert_episodes_episode", "episode_id"),)
    alert_id: Mapped[int] = mapped_column(
        ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True
    )
    episode_id: Mapped[int] = mapped_column(
        ForeignKey("episodes.id", ondelete="CASCADE"), primary_key=True
    )


class Delivery(Base):
    """The outbox: one row per alert and channel."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("alert_id", "channel"),
        Index("ix_deliveries_pending", "state", "next_attempt_at"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(200))
    delivery_uuid: Mapped[str] = mapped_column(String(64))  # stable across retries
    state: Mapped[str] = mapped_column(String(16), default="pending")
    # pending | sending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)


class DeliveryAttempt(Base):
    """Every send attempt, so "did we tell anyone?" is a query."""

    __tablename__ = "delivery_attempts"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), index=True
    )
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ok: Mapped[bool] = mapped_column()
    permanent: Mapped[bool] = mapped_column(default=False)
    error: Mapped[str | None] = mapped_column(Text)
