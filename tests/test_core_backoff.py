"""The one backoff formula (``monitor.core.backoff``): doubling, capped, jitter injected."""

from __future__ import annotations

import random

import pytest

from monitor.core.backoff import EQUAL_JITTER, backoff_delay


class Ends(random.Random):
    """``uniform`` returns the low or the high end of its range."""

    def __init__(self, high: bool) -> None:
        super().__init__(0)
        self.high = high

    def uniform(self, a: float, b: float) -> float:
        return b if self.high else a


def test_backoff_doubles_from_base_up_to_the_cap() -> None:
    delays = [backoff_delay(n, base=1.0, cap=10.0) for n in range(1, 7)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


@pytest.mark.parametrize(("high", "expected"), [(False, 4.0), (True, 8.0)])
def test_equal_jitter_keeps_half_the_delay_fixed(high: bool, expected: float) -> None:
    assert backoff_delay(4, base=1.0, cap=60.0, jitter=EQUAL_JITTER, rng=Ends(high)) == expected


def test_jitter_without_an_rng_is_the_nominal_delay() -> None:
    assert backoff_delay(3, base=30.0, cap=3600.0, jitter=(0.8, 1.2)) == 120.0


def test_jittered_delays_vary_within_their_bounds() -> None:
    rng = random.Random(3)
    seen = {backoff_delay(2, base=5.0, cap=60.0, jitter=(0.8, 1.2), rng=rng) for _ in range(20)}
    assert len(seen) > 1 and all(8.0 <= s <= 12.0 for s in seen)
