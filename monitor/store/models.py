"""The schema, as typed SQLAlchemy 2 models. Alembic migrations in ``alembic/`` create it.

Shape (one check flows top to bottom)::

    people ─< terms ─< series >─ sources          series = person × term × source × vantage
                          │
                          ├─< snapshots >── image_sets ─< image_set_members >── images
                          ├─< series_images (first/last seen of each image in this series)
                          ├─< episodes (drop / partial / resolved, unhealthy, stale)
                          └─< alerts ─< deliveries ─< delivery_attempts      (the outbox)

An unchanged result set costs one snapshot row: identical sets are stored once in
``image_sets`` (keyed by a digest of their members) and snapshots point at them.
``series_images.last_seen`` is written only when the set changes; while an image is still
in the current set its last sighting is the series' latest valid snapshot (``seen_open``).
Snapshot order is by ``id`` (monotonic), never by timestamp alone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from monitor.core.observation import Status

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite stores INTEGER PRIMARY KEY as the rowid; BIGINT elsewhere for long-lived installs.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every backend.

    SQLite has no time zones; storing naive UTC and re-attaching UTC on the way out keeps
    comparisons right everywhere.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use aware UTC")
        from datetime import UTC

        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        from datetime import UTC

        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base with a naming convention, so migrations name constraints stably."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Person(Base):
    __tablename__ = "people"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    role: Mapped[str] = mapped_column(String(16), default="watch")  # watch | control
    notes: Mapped[str] = mapped_column(Text, default="")


class Term(Base):
    __tablename__ = "terms"
    __table_args__ = (UniqueConstraint("person_id", "text"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(String(300))
    lang: Mapped[str | None] = mapped_column(String(16))


class Source(Base):
    __tablename__ = "sources"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(50))
    health_state: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # detector's SourceHealth


class Series(Base):
    """One person × term × source × vantage: the unit the detector reasons about."""

    __tablename__ = "series"
    __table_args__ = (
        UniqueConstraint("term_id", "source_id", "vantage"),
        Index("ix_series_person", "person_id", "source_id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    term_id: Mapped[int] = mapped_column(ForeignKey("terms.id", ondelete="CASCADE"))
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    vantage: Mapped[str] = mapped_column(String(64), default="default")
    role: Mapped[str] = mapped_column(String(16), default="watch")
    detector_state: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    next_check_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # early re-checks


class Round(Base):
    """A pass over one source's series; incidents and grouping are decided per round."""

    __tablename__ = "rounds"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    kind: Mapped[str] = mapped_column(String(16), default="scheduled")  # scheduled|recheck|manual
    incident: Mapped[bool] = mapped_column(default=False)


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
        Index("ix_snapshots_round", "round_id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("series.id", ondelete="CASCADE"))
    round_id: Mapped[int | None] = mapped_column(ForeignKey("rounds.id", ondelete="SET NULL"))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime] = mapped_column(UtcDateTime)
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


class Heartbeat(Base):
    """The daemon's liveness: one row per process, updated each tick."""

    __tablename__ = "heartbeats"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instance: Mapped[str] = mapped_column(String(100), unique=True)
    pid: Mapped[int] = mapped_column(Integer)
    host: Mapped[str] = mapped_column(String(255))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    beat_at: Mapped[datetime] = mapped_column(UtcDateTime)
    info: Mapped[dict[str, Any] | None] = mapped_column(JSON)


# Tables defined in other modules register on the same metadata (migrations compare all).
from monitor.store import evidence_models as _evidence_models  # noqa: E402, F401
