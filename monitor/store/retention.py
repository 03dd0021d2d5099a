"""Retention: raw responses are evidence for a while; counts are kept forever."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from monitor.store.models import RawResponse


@dataclass(frozen=True, slots=True)
class Pruned:
    """What one retention pass removed (or, with ``dry_run``, would remove)."""

    removed: int
    cutoff: datetime
    dry_run: bool = False

    def __str__(self) -> str:
        verb = "would remove" if self.dry_run else "removed"
        return f"{verb} {self.removed} raw response(s) older than {self.cutoff:%Y-%m-%d %H:%M} UTC"


def prune(session: Session, cutoff: datetime, *, dry_run: bool = False) -> Pruned:
    """Delete raw responses created before ``cutoff`` (inside the caller's transaction)."""
    old = RawResponse.created_at < cutoff
    count = session.scalar(select(func.count()).select_from(RawResponse).where(old)) or 0
    if not dry_run and count:
        session.execute(delete(RawResponse).where(old))
    return Pruned(int(count), cutoff, dry_run)
