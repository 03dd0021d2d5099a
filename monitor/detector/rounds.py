"""One round of one source: judge all its checks together, then commit.

``process_round`` is the detector's entry point for the daemon and the engine. It is pure in
the sense that matters here: no I/O, no clock (time comes from the points and ``now``). It
updates the given states and health in place and returns them (see ``state.py``).

A round is first judged as a whole (``incidents.judge_round``): when most of the source's
controls failed or fell, or many watched people (not names) drop at once, it is the engine
or the scraper, and the round is *gated*: no per-person events, and its watched checks neither
enter baselines nor confirm anything, exactly like failed checks. Then each check is
committed to its series (``series.commit``).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from monitor.detector import reasons
from monitor.detector.corroboration import PeerView
from monitor.detector.events import ControlReading, Event, from_ts
from monitor.detector.health import SourceHealth, update_health
from monitor.detector.incidents import judge_round
from monitor.detector.points import RoundInput, SeriesKey
from monitor.detector.series import (
    Assessment,
    assess,
    commit,
    note_failed,
    note_valid,
    wants_recheck,
)
from monitor.detector.settings import DetectionSettings
from monitor.detector.state import Check, SeriesState
from monitor.detector.stats import robust_z
from monitor.detector.transitions import person_event

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class RoundOutcome:
    """New states of every series in the round, new source health, events, rechecks."""

    states: dict[SeriesKey, SeriesState]
    health: SourceHealth
    events: list[Event] = field(default_factory=list)
    rechecks: list[SeriesKey] = field(default_factory=list)
    gated: bool = False  # the round was blamed on the engine and not used
    controls: tuple[ControlReading, ...] = ()


@dataclass(slots=True)
class _Item:
    key: SeriesKey
    control: bool
    state: SeriesState
    check: Check | None
    assessment: Assessment | None
    status: str
    went_stale: bool = False


def process_round(
    source: str,
    family: str,
    observations: Sequence[RoundInput],
    states: Mapping[SeriesKey, SeriesState],
    health: SourceHealth,
    settings: DetectionSettings,
    *,
    peers: PeerView,
    now: datetime,
) -> RoundOutcome:
    """Run one round of ``source`` through the detector.

    ``states`` may lack series seen for the first time. ``now`` is the round's time (its
    last check). ``rechecks`` lists series showing a first, unconfirmed sign of a
    transition: the caller re-checks them (with the source's controls, so the re-check round
    is gated too) after ``settings.recheck_after``.
    """
    s = settings
    now_ts = now.timestamp()
    out = RoundOutcome(states={}, health=health)
    if not observations:
        return out  # nothing was checked: not a failed round, not a working one either
    items: list[_Item] = []
    readings: list[ControlReading] = []
    signals: set[SeriesKey] = set()
    observed: set[SeriesKey] = set()
    statuses: Counter[str] = Counter()
    for key, role, point in observations:
        state = out.states.get(key) or states.get(key) or SeriesState.new(s)
        out.states[key] = state
        status = point.status.value
        statuses[status] += 1
        item = _Item(key, role == "control", state, None, None, status)
        if point.count is not None:  # a valid check (Point guarantees count iff valid)
            item.check = Check(
                point.t.timestamp(), status, point.count, point.domains, point.snapshot_id
            )
            item.assessment = judged = assess(state, item.check, s)
            if not item.control:
                observed.add(key)
                if judged.signal and state.episode is None:
                    signals.add(key)
        else:
            item.went_stale = note_failed(state, point.t.timestamp(), status, s)
        if item.control:
            readings.append(_control_reading(item, s))
        items.append(item)

    # --- judge the round as a whole -----------------------------------------------------
    out.controls = tuple(readings)
    judgement = judge_round(source, family, now, readings, signals, observed, health, s)
    out.gated = judgement.gated
    if judgement.event is not None:
        out.events.append(judgement.event)

    failed_rounds = health.failed_rounds
    failed_round = bool(items) and all(i.check is None for i in items)
    change = update_health(health, failed_round=failed_round, now=now_ts, s=s)
    if change == "unhealthy":
        since = health.failing_since if health.failing_since is not None else now_ts
        out.events.append(
            Event(
                event="source_unhealthy",
                source=source,
                family=family,
                t=now,
                reason=reasons.unhealthy_reason(statuses, health.failed_rounds, since),
                controls=out.controls,
            )
        )
    elif change == "recovered":
        out.events.append(
            Event(
                event="source_recovered",
                source=source,
                family=family,
                t=now,
                reason=f"valid checks again after {failed_rounds} rounds in which every "
                "check failed",
                controls=out.controls,
            )
        )

    # --- commit each series -------------------------------------------------------------
    for item in items:
        state, check, verdict = item.state, item.check, item.assessment
        if check is None or verdict is None:
            if item.went_stale and not health.unhealthy:  # an unhealthy source says it all
                out.events.append(_stale_event(item, source, family, now))
            continue
        if item.control:
            note_valid(state, check)
            state.sufficient = verdict.sufficient
            # Controls always feed their own windows: after a lasting engine-wide change
            # they adopt the new level, so the source is not gated forever.
            state.add_valid(check)
            continue
        if out.gated:
            note_valid(state, check)
            state.held = item.key in signals
            continue
        moved = commit(state, check, verdict, s)
        if moved is not None:
            out.events.append(
                person_event(
                    moved,
                    item.key,
                    family,
                    peers,
                    out.controls,
                    s,
                    # Other people: a person's own aliases are not corroboration.
                    others_dropping=len({k.person for k in signals} - {item.key.person}),
                    others_checked=len({k.person for k in observed} - {item.key.person}),
                )
            )
        if wants_recheck(state):
            out.rechecks.append(item.key)
    return out


def _control_reading(item: _Item, s: DetectionSettings) -> ControlReading:
    """A control is bad when it failed (unless long broken: stale) or fell below its norm."""
    state, check, a = item.state, item.check, item.assessment
    if check is None or a is None:
        baseline = (
            min(state.short.counts_median(), state.long.counts_median())
            if state.sufficient and state.short.counts
            else None
        )
        # A control failing for longer than stale_after is broken, not a signal; the stale
        # event tells the user to fix it, and it stops gating the source.
        return ControlReading(item.key.term, item.status, None, baseline, not item.state.stale)
    # Same guard as for people: low *and* outside the control's own noise.
    fell = (
        a.sufficient
        and a.baseline is not None
        and check.images <= s.control_drop_ratio * a.baseline
        and robust_z(check.images, state.short.counts, s.mad_floor) <= -s.z_threshold
    )
    return ControlReading(item.key.term, item.status, check.images, a.baseline, fell)


def _stale_event(item: _Item, source: str, family: str, now: datetime) -> Event:
    state = item.state
    return Event(
        event="stale",
        source=source,
        family=family,
        t=now,
        reason=reasons.stale_reason(state.last_valid_t, state.last_status),
        person=item.key.person,
        term=item.key.term,
        vantage=item.key.vantage,
        observed=state.last_count,
        episode_start=None if state.episode is None else from_ts(state.episode.started),
    )
