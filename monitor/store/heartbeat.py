"""The daemon's liveness row: one per process, updated on every heartbeat."""

from __future__ import annotations

import os
import socket
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.store.models import Heartbeat


def record_heartbeat(session: Session, instance: str, now: datetime, info: dict[str, Any]) -> None:
    """Create or update the heartbeat row of ``instance`` (caller commits)."""
    row = session.scalar(select(Heartbeat).where(Heartbeat.instance == instance))
    if row is None:
        row = Heartbeat(
            instance=instance,
            pid=os.getpid(),
            host=socket.gethostname(),
            started_at=now,
            beat_at=now,
        )
        session.add(row)
    row.beat_at = now
    row.info = info


def latest_beat(session: Session) -> datetime | None:
    """When any daemon last wrote its heartbeat (None: never)."""
    return session.scalar(select(func.max(Heartbeat.beat_at)))
