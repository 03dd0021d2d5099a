"""Sliding windows of valid checks and the robust statistics the drop rule needs.

A ``Window`` keeps the valid checks of the last ``span`` seconds in time order plus sorted
copies of their counts and domain counts, so a median is O(1) and adding or expiring a check
is one ``bisect`` (a memmove of at most a few hundred pointers). The robust z-score needs
the MAD, which is O(n log n); it is computed only when the cheap ratio test already says
"drop", which is rare, so the per-check cost stays O(window) at worst and O(log window)
usually.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections import deque

# Scales the MAD to the standard deviation of a normal distribution.
MAD_SCALE = 1.4826

Entry = tuple[float, int, int | None]
"""(epoch seconds, distinct images, distinct domains or None)."""


def median_sorted(values: list[int] | list[float]) -> float:
    """Median of an already sorted, non-empty list."""
    n = len(values)
    mid = n // 2
    if n % 2:
        return float(values[mid])
    return (values[mid - 1] + values[mid]) / 2.0


def robust_z(value: float, sorted_values: list[int], mad_floor: float) -> float:
    """Robust z-score of ``log(value+1)`` against ``log(v+1)`` of the window.

    ``(log1p(x) - median) / (1.4826 * MAD + mad_floor)``: the floor keeps a perfectly flat
    history from turning every wobble into an infinite score.
    """
    logs = [math.log1p(v) for v in sorted_values]  # log1p is monotone: still sorted
    center = median_sorted(logs)
    deviations = sorted(abs(x - center) for x in logs)
    spread = MAD_SCALE * median_sorted(deviations) + mad_floor
    return (math.log1p(value) - center) / spread if spread > 0 else -math.inf


class Window:
    """The valid checks of the last ``span`` seconds, with sorted counts and domains."""

    __slots__ = ("counts", "domains", "entries", "span")

    def __init__(self, span: float) -> None:
        self.span = span
        self.entries: deque[Entry] = deque()
        self.counts: list[int] = []
        self.domains: list[int] = []

    def __len__(self) -> int:
        return len(self.entries)

    def add(self, ts: float, count: int, domains: int | None) -> None:
        """Append a check; checks must arrive in time order."""
        self.entries.append((ts, count, domains))
        insort(self.counts, count)
        if domains is not None:
            insort(self.domains, domains)

    def expire(self, now: float) -> None:
        """Drop the checks made ``span`` or more before ``now`` (the window is half-open)."""
        cutoff = now - self.span
        entries = self.entries
        while entries and entries[0][0] <= cutoff:
            _, count, domains = entries.popleft()
            del self.counts[bisect_left(self.counts, count)]
            if domains is not None:
                del self.domains[bisect_left(self.domains, domains)]

    def counts_median(self) -> float:
        """Median distinct images; the window must not be empty."""
        return median_sorted(self.counts)

    def domains_median(self) -> float:
        """Median distinct domains over the checks that reported them; must not be empty."""
        return median_sorted(self.domains)
