"""The snapshot log's head (one row: the last entry's position and link, which every
round's write reads and moves under a lock) and the RFC 3161 time-stamp tokens obtained for
it. Migration ``0005``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from monitor.store.models.base import Base, BigId, UtcDateTime


class LogHead(Base):
    """The chain head: ``seq`` entries so far, the last one's link ``head``."""

    __tablename__ = "snapshot_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # always 1
    seq: Mapped[int] = mapped_column(BigInteger)
    head: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class LogTimestamp(Base):
    """A time-stamping authority's signed token over the head at ``seq``."""

    __tablename__ = "log_timestamps"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    head: Mapped[str] = mapped_column(String(64))
    tsa_url: Mapped[str] = mapped_column(Text)
    token: Mapped[bytes] = mapped_column(LargeBinary)  # the DER TimeStampResp
    gen_time: Mapped[datetime] = mapped_column(UtcDateTime)  # the time the TSA signed
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
