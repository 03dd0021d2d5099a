"""What is watched: people, their terms, the sources, the series (person x term x
source x vantage) and the rounds in which a source was checked.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from monitor.store.models.base import Base, BigId, UtcDateTime


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


class SourceRow(Base):
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
    # scheduled, recheck, manual; late: a cluster's checks forwarded after later ones were judged
    kind: Mapped[str] = mapped_column(String(16), default="scheduled")
    incident: Mapped[bool] = mapped_column(default=False)
    # Where the round's checks were made (cluster mode: one round per source and vantage).
    vantage: Mapped[str] = mapped_column(String(64), default="default", server_default="default")
