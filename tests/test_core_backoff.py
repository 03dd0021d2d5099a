"""The one backoff formula (``monitor.core.backoff``): doubling, capped, jitter injected."""

from __future__ import annotations

import random

from monitor.core.backoff import EQUAL_JITTER, backoff_delay
from tests.helpers.fetch import LowJitter


def test_backoff_doubles_from_base_up_to_the_cap() -> None:
    delays = [backoff_delay(n, base=1.0, cap=10.0) for n in range(1, 7)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_equal_jitter_keeps_half_the_delay_fixed() -> None:
    assert backoff_delay(4, base=1.0, cap=60.0, jitter=EQUAL_JITTER, rng=LowJitter()) == 4.0


def test_without_an_rng_the_delay_is_the_nominal_one() -> None:
    assert backoff_delay(4, base=1.0, cap=60.0, jitter=EQUAL_JITTER) == 8.0


def test_jittered_delays_vary_within_their_bounds() -> None:
    rng = random.Random(3)
    seen = {backoff_delay(2, base=5.0, cap=60.0, jitter=(0.8, 1.2), rng=rng) for _ in range(20)}
    assert len(seen) > 1 and all(8.0 <= s <= 12.0 for s in seen)
