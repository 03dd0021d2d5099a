"""NAB-style scoring adapted to image absence (detection.md 3.1-3.2).

Differences from the Numenta Anomaly Benchmark, each for a reason given in detection.md:

- windows are right-sided, ``[onset, onset + 16 checks)``: a removal cannot be detected
  before it happens, so a centred window would reward lucky early alerts;
- the detections are alert *episodes* (``drop`` alerts), not points;
- ignore zones (minor events, and an event's span after its window) neither earn nor cost;
- thresholds are never swept on the scored seeds.

The rest is NAB's ``sweeper.py``: the first detection in a window earns
``A_TP * sigmoid(y) / sigmoid(-1)`` with ``y`` from -1 (window start) to 0 (window end);
a detection outside every window costs ``A_FP * sigmoid(y)`` with ``y`` the distance past the
preceding window in window lengths (the full ``A_FP`` when no window precedes it, or when
``y > 3``); a window without a detection costs ``A_FN``. Normalised against the null
detector (no detections) and the perfect one: ``100 * (S - S_null) / (S_perfect - S_null)``.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass

PROFILES: dict[str, tuple[float, float, float]] = {
    # name: (A_TP, A_FP, A_FN), from NAB config/profiles.json
    "standard": (1.0, 0.11, 1.0),
    "reward_low_FP_rate": (1.0, 0.22, 1.0),
}


def scaled_sigmoid(y: float) -> float:
    """NAB's ``2 / (1 + e^(5y)) - 1``, and -1 far behind a window (y > 3)."""
    if y > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * y)) - 1.0


@dataclass
class SeriesTrack:
    """One series for NAB: its windows, ignore zones and detections (epoch seconds)."""

    windows: list[tuple[float, float]]
    ignore: list[tuple[float, float]]
    detections: list[float]


@dataclass
class NabRaw:
    """Raw score and its two references; sum over corpora before normalising."""

    score: float = 0.0
    null: float = 0.0
    perfect: float = 0.0

    def add(self, other: NabRaw) -> None:
        """Accumulate another corpus's raw figures."""
        self.score += other.score
        self.null += other.null
        self.perfect += other.perfect

    @property
    def normalised(self) -> float:
        """100 for the perfect detector, 0 for the null one (negative when worse than null)."""
        span = self.perfect - self.null
        return 100.0 * (self.score - self.null) / span if span else 100.0


def score_series(track: SeriesTrack, profile: str, probation_end: float) -> NabRaw:
    """The raw NAB score of one series under one profile."""
    a_tp, a_fp, a_fn = PROFILES[profile]
    windows = sorted(track.windows)
    raw = NabRaw(null=-a_fn * len(windows), perfect=a_tp * len(windows))
    hit = [False] * len(windows)
    max_tp = scaled_sigmoid(-1.0)
    ends = [w[1] for w in windows]
    for t in sorted(track.detections):
        if t < probation_end or any(lo <= t < hi for lo, hi in track.ignore):
            continue
        inside = next((i for i, (lo, hi) in enumerate(windows) if lo <= t < hi), None)
        if inside is not None:
            if not hit[inside]:  # only the first detection in a window counts
                hit[inside] = True
                lo, hi = windows[inside]
                y = (t - hi) / (hi - lo)
                raw.score += a_tp * scaled_sigmoid(y) / max_tp
            continue
        prev = bisect.bisect_right(ends, t) - 1
        if prev < 0:
            raw.score -= a_fp
        else:
            lo, hi = windows[prev]
            raw.score += a_fp * scaled_sigmoid((t - hi) / (hi - lo))
    raw.score -= a_fn * hit.count(False)
    return raw


def score_tracks(tracks: Sequence[SeriesTrack], profile: str, probation_end: float) -> NabRaw:
    """Sum of the raw scores of many series."""
    total = NabRaw()
    for track in tracks:
        total.add(score_series(track, profile, probation_end))
    return total
