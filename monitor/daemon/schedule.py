"""When each source's next round runs, from the database, so restarts neither storm nor skip.

Pure: the times come in (the last rounds are ``monitor.store.rounds.last_rounds``), the
decisions go out; ``monitor.daemon.jobs`` turns them into APScheduler jobs (STYLE.md, 11).

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
