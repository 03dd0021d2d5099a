"""The time axis of the charts: where the date ticks go and how they are labelled, and where
a series went unchecked for so long that its line must break.

Ticks fall on round moments in UTC (midnight for day steps, whole hours otherwise), with
the largest step that still gives ``MIN_TICKS`` of them, so a chart of six days shows six
dates and one of a year shows a tick a month or so, never only its two ends. A span too
short for four whole-minute steps gets ``MIN_TICKS`` evenly spaced ticks instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Protocol

MIN_TICKS = 4
GAP_INTERVALS = 2  # no check for more than this many intervals: the line breaks

_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)
STEPS = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(minutes=30),
    _HOUR,
    2 * _HOUR,
    3 * _HOUR,
    6 * _HOUR,
    12 * _HOUR,
    _DAY,
    2 * _DAY,
    3 * _DAY,
    7 * _DAY,
    14 * _DAY,
    28 * _DAY,
    56 * _DAY,
    91 * _DAY,
    182 * _DAY,
    364 * _DAY,
)
_EPOCH = datetime(1970, 1, 5, tzinfo=UTC)  # a Monday: week steps fall on Mondays


class Timed(Protocol):
    """Anything with a moment (a check)."""

    @property
    def t(self) -> datetime: ...


def _aligned(t0: datetime, t1: datetime, step: timedelta) -> list[datetime]:
    first = _EPOCH + step * -(-(t0 - _EPOCH) // step)  # the first multiple at or after t0
    out = []
    t = first
    while t <= t1:
        out.append(t)
        t += step
    return out


def time_ticks(t0: datetime, t1: datetime) -> tuple[list[datetime], timedelta]:
    """The ticks between ``t0`` and ``t1`` and their step (see module docstring); one tick
    at ``t0`` when the span is empty."""
    if t1 <= t0:
        return [t0], timedelta(0)
    for step in reversed(STEPS):
        ticks = _aligned(t0, t1, step)
        if len(ticks) >= MIN_TICKS:
            return ticks, step
    step = (t1 - t0) / (MIN_TICKS - 1)
    return [t0 + i * step for i in range(MIN_TICKS)], step


def tick_label(t: datetime, step: timedelta) -> str:
    """``2021-06-04`` for day steps, ``06-04 12:00`` for hours, ``12:05`` within a day."""
    t = t.astimezone(UTC)
    if step >= _DAY:
        return f"{t:%Y-%m-%d}"
    if step >= _HOUR or (t.hour == 0 and t.minute == 0):
        return f"{t:%m-%d %H:%M}"
    return f"{t:%H:%M}"


def silences(
    points: Sequence[Timed], interval: timedelta | None
) -> list[tuple[datetime, datetime]]:
    """The stretches between consecutive checks longer than ``GAP_INTERVALS`` × ``interval``
    (the source's schedule): no check ran, so the chart draws a gap, not a line."""
    if interval is None or interval <= timedelta(0):
        return []
    limit = GAP_INTERVALS * interval
    return [(a.t, b.t) for a, b in pairwise(points) if b.t - a.t > limit]
