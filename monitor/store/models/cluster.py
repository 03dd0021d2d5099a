"""Cluster mode (``cluster.enabled``, PostgreSQL only): the nodes, the leader's fencing
epoch, the claims through which a vantage's nodes share a round's checks, and the checks
staged by the nodes until the leader turns them into snapshots.

A round is identified by its *slot*: ``floor(epoch seconds of the tick / source every)``,
the same number on every node whatever its clock's jitter within the interval. Single-daemon
mode never writes these tables.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from monitor.store.models.base import Base, UtcDateTime


class Node(Base):
    """A daemon of the cluster: registered at start, beaten every heartbeat."""

    __tablename__ = "nodes"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    vantage: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(32))
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    role: Mapped[str] = mapped_column(String(16), default="probe")  # leader | probe
    spool_depth: Mapped[int] = mapped_column(Integer, default=0)
    stopped: Mapped[bool] = mapped_column(default=False)


class Leadership(Base):
    """The one row (``id = 1``) naming the leader: its fencing ``epoch`` grows by one at
    every take-over, and every write the leader makes first checks it still matches."""

    __tablename__ = "leadership"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    epoch: Mapped[int] = mapped_column(BigInteger, default=0)
    node: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime)


class CheckClaim(Base):
    """One series to check in one slot of a source at one vantage: free (``node`` NULL),
    claimed by ``node`` until ``lease_until``, or done (``done_at``)."""

    __tablename__ = "check_claims"
    __table_args__ = (Index("ix_check_claims_open", "source_id", "vantage", "slot", "done_at"),)
    source_id: Mapped[int] = mapped_column(
        ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True
    )
    vantage: Mapped[str] = mapped_column(String(64), primary_key=True)
    slot: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    series_id: Mapped[int] = mapped_column(
        ForeignKey("series.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(16), default="scheduled")  # scheduled | recheck
    node: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class StagedCheck(Base):
    """A check a node made, waiting for the leader's round commit; ``check_id`` (a uuid4
    the node made at check time) makes a check forwarded twice count once."""

    __tablename__ = "staged_checks"
    __table_args__ = (Index("ix_staged_checks_round", "source_id", "vantage", "slot"),)
    check_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    vantage: Mapped[str] = mapped_column(String(64))
    slot: Mapped[int] = mapped_column(BigInteger)
    series_id: Mapped[int] = mapped_column(ForeignKey("series.id", ondelete="CASCADE"))
    node: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16), default="scheduled")
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # status, reason, items (as lists), reported_total, http_status, pages, elapsed_ms,
    # raw_content_type, raw_url, raw_request; the raw bytes are in ``body``.
    observation: Mapped[dict[str, Any]] = mapped_column(JSON)
    body: Mapped[bytes | None] = mapped_column(LargeBinary)  # the gzip bytes of a RawBody
    body_sha256: Mapped[str | None] = mapped_column(String(64))
    body_size: Mapped[int | None] = mapped_column(Integer)
    staged_at: Mapped[datetime] = mapped_column(UtcDateTime)
