"""Exponential backoff: the one formula for how long to wait before trying again.

``backoff_delay(attempt, base=, cap=)`` is ``base * 2**(attempt - 1)`` capped at ``cap``, in
seconds, ``attempt`` counting from 1. With an ``rng`` it is multiplied by a factor drawn
uniformly from ``jitter`` (low, high), so many retries that failed together do not fire
together. Pure: the randomness is injected, so tests pin it.

Two users, two jitters: fetch retries use ``EQUAL_JITTER`` (half fixed, half random: the
fixed half keeps a host's retries from collapsing onto each other); the dispatcher spreads
deliveries ±20% around the nominal delay (``channels.dispatch``).
"""

from __future__ import annotations

import random

Jitter = tuple[float, float]  # (low, high) factors applied to the capped delay

NO_JITTER: Jitter = (1.0, 1.0)
EQUAL_JITTER: Jitter = (0.5, 1.0)


def backoff_delay(
    attempt: int,
    *,
    base: float,
    cap: float,
    jitter: Jitter = NO_JITTER,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1 = the first failure).

    Without ``rng`` the delay is the nominal one, ``jitter`` ignored.
    """
    ceiling = min(cap, base * 2.0 ** (attempt - 1))
    if rng is None:
        return ceiling
    return ceiling * rng.uniform(*jitter)
