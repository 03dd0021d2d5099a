"""The daemon's liveness row."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from monitor.store.models.base import Base, BigId, UtcDateTime


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
