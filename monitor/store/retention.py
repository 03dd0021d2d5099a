"""Retention: raw responses are evidence for a while; counts are kept forever."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from monitor.store.models import RawResponse


def prune(session: Session, cutoff: datetime, *, dry_run: bool = False) -> int:
    """Delete raw responses created before ``cutoff``; returns how many (would be) removed."""
    old = RawResponse.created_at < cutoff
    count = session.scalar(select(func.count()).select_from(RawResponse).where(old)) or 0
    if not dry_run and count:
        session.execute(delete(RawResponse).where(old))
    return int(count)
