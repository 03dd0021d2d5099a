"""The per-series rules (RRB-HG, detection.md §2.7), one valid check at a time.

Two steps, so a round can be judged as a whole before anything is committed:

- ``assess`` compares a valid check with the series' baseline (the lower of the short- and
  long-window medians of valid checks) and says whether it is a drop signal: images at or
  below ``drop_ratio`` of baseline *and* a robust z-score below ``-z_threshold``; or, for a
  tiny baseline, a positive ``no_results``; or the same ratio-and-z rule on distinct domains.
- ``commit`` applies the check: confirm a pending drop after K consecutive valid signals
  (the episode opens with that baseline frozen), or move an episode to partial / recovered /
  back to dropped after K consecutive checks in the new zone.

Failed checks never come here: ``note_failed`` only counts them (they neither confirm nor
reset a pending drop). The checks of a pending drop stay out of the windows until the drop
is refuted, and checks inside an episode never enter them, so a drop never lowers its own
baseline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from monitor.core.observation import Status
from monitor.detector.settings import DetectionSettings
from monitor.detector.state import Check, DropEpisode, EpisodeState, Metric, SeriesState
from monitor.detector.stats import median_sorted, robust_z

_NO_RESULTS = Status.NO_RESULTS.value


@dataclass(slots=True)
class Assessment:
    """What one valid check means against the series' own history."""

    sufficient: bool = False
    baseline: float | None = None
    baseline_days: int = 0
    images_signal: bool = False
    domains_signal: bool = False
    domains_baseline: float | None = None
    domains_days: int = 0
    required: int = 0  # valid checks that confirm an images signal
    tiny: bool = False

    @property
    def signal(self) -> bool:
        """True when the check looks like a new drop."""
        return self.images_signal or self.domains_signal


@dataclass(slots=True)
class Change:
    """A confirmed transition of one series, before it becomes an ``Event``."""

    kind: Literal["drop", "partial", "recovered"]
    metric: Metric
    baseline: float
    baseline_days: int
    started: float
    confirming: list[Check]
    state: Literal["open", "partial", "resolved"]
    tiny: bool = False
    relapse: bool = False  # back to dropped after a partial restoration


def assess(state: SeriesState, check: Check, s: DetectionSettings) -> Assessment:
    """Judge a valid check; expires old window entries (time only moves forward)."""
    # The hot path of the detector (every valid check): medians are read straight from
    # the sorted lists, and the O(n log n) z-score is computed only after the ratio test.
    sec = s.seconds
    ts = check.ts
    if state.pending and ts - state.pending[-1].ts > sec.pending_expires_after:
        _refute_pending(state)  # too old to confirm anything now
    short, long = state.short, state.long
    if not state.held:
        short.expire(ts)
        long.expire(ts)
    if len(short.entries) < s.min_history:
        return Assessment()
    a = Assessment(sufficient=True)
    short_med, long_med = median_sorted(short.counts), median_sorted(long.counts)
    if short_med <= long_med:
        a.baseline, a.baseline_days = short_med, sec.short_days
    else:
        a.baseline, a.baseline_days = long_med, sec.long_days
    if state.episode is not None:
        return a  # judged against the frozen baseline in commit, not as a new drop
    if a.baseline < s.tiny_baseline:
        a.tiny = True
        a.required = s.tiny_no_results_checks
        a.images_signal = a.baseline >= s.tiny_min_baseline and check.status == _NO_RESULTS
    else:
        a.required = s.confirm_checks
        a.images_signal = (
            check.images <= s.drop_ratio * a.baseline
            and robust_z(check.images, short.counts, s.mad_floor) <= -s.z_threshold
        )
    domains = check.domains
    if s.domains_rule and domains is not None and len(short.domains) >= s.min_history:
        short_med, long_med = median_sorted(short.domains), median_sorted(long.domains)
        if short_med <= long_med:
            a.domains_baseline, a.domains_days = short_med, sec.short_days
        else:
            a.domains_baseline, a.domains_days = long_med, sec.long_days
        db = a.domains_baseline
        a.domains_signal = (
            db >= s.domains_min_baseline
            and domains <= s.drop_ratio * db
            and robust_z(domains, short.domains, s.mad_floor) <= -s.z_threshold
        )
    return a


def note_valid(state: SeriesState, check: Check) -> None:
    """Record that the series was observed (for staleness and peers), nothing more."""
    if state.first_t is None:
        state.first_t = check.ts
    state.last_t = state.last_valid_t = check.ts
    state.failures = 0
    state.stale = False
    state.last_status = check.status
    state.last_count = check.images
    state.last_domains = check.domains


def note_failed(state: SeriesState, ts: float, status: str, s: DetectionSettings) -> bool:
    """Count a failed check; True when the series has just become stale."""
    if state.first_t is None:
        state.first_t = ts
    state.last_t = ts
    state.failures += 1
    state.last_status = status
    ref = state.last_valid_t if state.last_valid_t is not None else state.first_t
    if not state.stale and ts - ref > s.seconds.stale_after:
        state.stale = True
        return True
    return False


def commit(state: SeriesState, check: Check, a: Assessment, s: DetectionSettings) -> Change | None:
    """Apply an assessed valid check to the state; the transition it confirms, if any."""
    note_valid(state, check)
    state.sufficient = a.sufficient
    state.held = False
    if state.episode is not None:
        return _track_episode(state, state.episode, check, s)
    if not a.sufficient or not a.signal:
        _refute_pending(state)
        state.add_valid(check)
        return None
    state.pending.append(check)
    state.streak_images = state.streak_images + 1 if a.images_signal else 0
    state.streak_domains = state.streak_domains + 1 if a.domains_signal else 0
    if state.streak_images >= a.required and a.baseline is not None:
        metric: Metric = "images"
        baseline, days, streak = a.baseline, a.baseline_days, state.streak_images
    elif state.streak_domains >= s.confirm_checks and a.domains_baseline is not None:
        metric = "domains"
        baseline, days, streak = a.domains_baseline, a.domains_days, state.streak_domains
    else:
        return None
    confirming = state.pending[-streak:]
    state.episode = DropEpisode(metric, baseline, days, confirming[0].ts)
    state.pending = []
    state.streak_images = state.streak_domains = 0
    return Change("drop", metric, baseline, days, confirming[0].ts, confirming, "open", a.tiny)


def wants_recheck(state: SeriesState) -> bool:
    """True when a first sign of a transition waits for confirmation."""
    ep = state.episode
    if ep is None:
        return bool(state.pending)
    if ep.recover_run:
        return True
    return bool(ep.partial_run) if ep.state == "open" else bool(ep.drop_run)


def _refute_pending(state: SeriesState) -> None:
    """The pending drop was not confirmed: its checks were real, put them in the windows."""
    for c in state.pending:
        state.add_valid(c)
    state.pending = []
    state.streak_images = state.streak_domains = 0


def _track_episode(
    state: SeriesState, ep: DropEpisode, check: Check, s: DetectionSettings
) -> Change | None:
    value = check.value(ep.metric)
    if value is None:
        return None  # this check did not measure the episode's metric
    k = s.confirm_checks
    if value >= s.recover_ratio * ep.baseline:
        run, others = ep.recover_run, (ep.partial_run, ep.drop_run)
    elif value > s.drop_ratio * ep.baseline:
        run, others = ep.partial_run, (ep.recover_run, ep.drop_run)
    else:
        run, others = ep.drop_run, (ep.recover_run, ep.partial_run)
    if ep.state == "partial":
        k = s.partial_exit_checks
    run.append(check)
    del run[:-k]  # only the last k are ever needed; keeps a months-long episode O(1)
    for other in others:
        other.clear()
    if len(ep.recover_run) >= k:
        confirming = list(ep.recover_run)
        state.episode = None
        for c in confirming:  # the series is normal again: these are baseline material
            state.add_valid(c)
        return _change(ep, "recovered", confirming, "resolved")
    if ep.state == "open" and len(ep.partial_run) >= k:
        return _move(ep, "partial", ep.partial_run)
    if ep.state == "partial" and len(ep.drop_run) >= k:
        return _move(ep, "open", ep.drop_run)
    return None


def _move(ep: DropEpisode, to: EpisodeState, run: list[Check]) -> Change:
    confirming = list(run)
    run.clear()
    ep.state = to
    if to == "partial":
        return _change(ep, "partial", confirming, "partial")
    change = _change(ep, "drop", confirming, "open")
    change.relapse = True
    return change


def _change(
    ep: DropEpisode,
    kind: Literal["drop", "partial", "recovered"],
    confirming: list[Check],
    state: Literal["open", "partial", "resolved"],
) -> Change:
    return Change(kind, ep.metric, ep.baseline, ep.baseline_days, ep.started, confirming, state)
