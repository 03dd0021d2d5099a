"""When each source's next round runs, from the database, so restarts neither storm nor skip.

The daemon's schedule is built from the config at start (no pickled jobs): one round job per
enabled source, every ``sources.<name>.every``, plus a re-check job, the dispatcher and the
heartbeat. The step functions here are plain and testable; APScheduler jobs are thin
wrappers around them (STYLE.md, 11).

- ``first_run(last_round, every, now, rng)``: a source whose last round finished at ``t``
  runs next at ``t + every``; if that is already past (a restart after an outage), it runs
  once, soon, at a random offset within ``min(every, 5 min)`` — one run, never a catch-up
  storm of missed periods.
- ``start_offsets(n, every, rng)``: the start offsets of a round's checks, spread over a
  slice of the interval with jitter, so a thousand series do not fire in the same second
  (the per-host rate limit spaces them further).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.store.models import Round, Series, SourceRow

CATCH_UP_WINDOW = timedelta(minutes=5)
SPREAD_FRACTION = 0.1
SPREAD_CAP = timedelta(minutes=15)


def first_run(
    last_round: datetime | None, every: timedelta, now: datetime, rng: random.Random
) -> datetime:
    """When a source's next round should start (see module docstring)."""
    window = min(every, CATCH_UP_WINDOW)
    if last_round is None or last_round + every <= now:
        return now + timedelta(seconds=rng.uniform(0, window.total_seconds()))
    return last_round + every


def start_offsets(n: int, every: timedelta, rng: random.Random) -> list[float]:
    """Seconds after the round's start at which each of ``n`` checks begins."""
    spread = min(every * SPREAD_FRACTION, SPREAD_CAP).total_seconds()
    if n <= 1 or spread <= 0:
        return [0.0] * n
    step = spread / n
    return [i * step + rng.uniform(0, step) for i in range(n)]


def last_rounds(session: Session) -> dict[str, datetime]:
    """Start time of the latest round of each source (scheduled or manual)."""
    rows = session.execute(
        select(SourceRow.name, func.max(Round.started_at))
        .join(Round, Round.source_id == SourceRow.id)
        .group_by(SourceRow.name)
    )
    return {name: started for name, started in rows if started is not None}


def due_rechecks(session: Session, now: datetime) -> dict[int, datetime]:
    """Series whose early re-check (asked for by the detector) is due: id -> due time."""
    rows = session.execute(
        select(Series.id, Series.next_check_at).where(
            Series.next_check_at.is_not(None), Series.next_check_at <= now
        )
    )
    return {sid: at for sid, at in rows if at is not None}
