"""Compare a detector's alerts with a corpus's labels: the figures of detection.md 3.3.

Definitions (times are the ``t`` of the check that triggered an alert):

- a *person alert* is a ``drop`` or ``partial`` alert; alerts match a series by
  (person, source);
- an event source is *detected* when a ``drop`` alert on it falls in its detection window
  ``[onset, min(onset + 16 checks, restoration))``; an event is detected when one of its
  sources is;
- *delay*: valid checks (ok/no_results) of that series from the onset to the alert, minus
  one; 1 means "on the second valid check after the onset" (detection.md 2.8);
- a person alert inside an event's span ``[onset, restoration + 2 days)`` (no restoration:
  to the end) is true for a major event and ignored for a minor one; any other person alert
  is a *false alert*, counted per episode (a ``partial`` following a false ``drop`` on the
  same series before a ``recovered`` is the same false alert) and attributed to the
  must-not-alert episode it falls in (``after_event`` when it comes on the series of a
  labelled event after that event's span: a detector re-alerting on a state it reported);
- an event's *classification* is right when the first ``drop`` alert of one of its
  sources carries the labelled one (in a cascade the first engine to fall cannot be
  corroborated yet; a later one can);
- a restoration is *reported* when a ``recovered`` or ``partial`` alert falls on the first
  2 valid checks at or after it;
- an engine incident is *clean* when no person alert on its source falls in
  ``[onset, end + 12 h)``; it is *flagged* when a ``source_incident`` or
  ``source_unhealthy`` alert does.
"""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bench.detection.corpus import CADENCE, PROBATION_DAYS, parse_t
from bench.detection.nab import PROFILES, NabRaw, SeriesTrack, score_tracks

WINDOW_S = 16 * CADENCE.total_seconds()
SPAN_GRACE_S = 2 * 86400.0
INCIDENT_GRACE_S = 12 * 3600.0
RECOVERY_CHECKS = 2
MONTH_DAYS = 30.4375
PERSON_EVENTS = frozenset({"drop", "partial"})
INF = float("inf")

Key = tuple[str, str]


@dataclass
class Figures:
    """Counts behind every metric, summable across corpora (``add``)."""

    by_type: dict[str, list[int]] = field(default_factory=dict)  # type -> [events, detected]
    major: list[int] = field(default_factory=lambda: [0, 0])
    every: list[int] = field(default_factory=lambda: [0, 0])
    pairs: list[int] = field(default_factory=lambda: [0, 0])  # major event sources
    delays: list[int] = field(default_factory=list)
    delay_hours: list[float] = field(default_factory=list)
    classification: list[int] = field(default_factory=lambda: [0, 0])  # [judged, right]
    false_alerts: int = 0
    false_by_cause: dict[str, int] = field(default_factory=dict)
    true_alerts: int = 0
    series_months: float = 0.0
    recoveries: list[int] = field(default_factory=lambda: [0, 0, 0])  # [n, in 2, right kind]
    incidents: dict[str, list[int]] = field(default_factory=dict)  # kind -> [n, clean, flagged]
    nab: dict[str, NabRaw] = field(default_factory=dict)

    def add(self, o: Figures) -> None:
        """Accumulate the figures of another corpus."""
        for k, v in o.by_type.items():
            _addl(self.by_type.setdefault(k, [0, 0]), v)
        for a, b in (
            (self.major, o.major),
            (self.every, o.every),
            (self.pairs, o.pairs),
            (self.classification, o.classification),
            (self.recoveries, o.recoveries),
        ):
            _addl(a, b)
        self.delays += o.delays
        self.delay_hours += o.delay_hours
        self.false_alerts += o.false_alerts
        for k, n in o.false_by_cause.items():
            self.false_by_cause[k] = self.false_by_cause.get(k, 0) + n
        self.true_alerts += o.true_alerts
        self.series_months += o.series_months
        for k, v in o.incidents.items():
            _addl(self.incidents.setdefault(k, [0, 0, 0]), v)
        for k, raw in o.nab.items():
            self.nab.setdefault(k, NabRaw()).add(raw)


def _addl(a: list[int], b: list[int]) -> None:
    for i, v in enumerate(b):
        a[i] += v


def _ts(s: str) -> float:
    return parse_t(s).timestamp()


def valid_times(observations: Iterable[dict[str, Any]]) -> dict[Key, list[float]]:
    """Sorted times of the valid checks of each series (streams; keeps only the times)."""
    out: dict[Key, list[float]] = defaultdict(list)
    for r in observations:
        if r["status"] in ("ok", "no_results"):
            out[(r["person"], r["source"])].append(_ts(r["t"]))
    for v in out.values():
        v.sort()
    return out


def _valid_between(times: list[float], lo: float, hi: float) -> int:
    """Valid checks with lo <= t <= hi."""
    return bisect.bisect_right(times, hi) - bisect.bisect_left(times, lo)


def compute(
    labels: dict[str, Any], alerts: list[dict[str, Any]], valid: dict[Key, list[float]]
) -> Figures:
    """Score one corpus: its labels, the detector's alerts, and its valid check times."""
    fig = Figures()
    start, end = _ts(labels["start"]), _ts(labels["end"])
    roles = {(s["person"], s["source"]): s["role"] for s in labels["series"]}
    n_watch = sum(1 for r in roles.values() if r == "watch")
    fig.series_months = n_watch * (end - start) / 86400.0 / MONTH_DAYS
    by_series: dict[Key, list[tuple[float, dict[str, Any]]]] = defaultdict(list)
    by_source: dict[str, list[tuple[float, dict[str, Any]]]] = defaultdict(list)
    for a in alerts:
        t = _ts(a["t"])
        if a.get("event") in PERSON_EVENTS or a.get("event") == "recovered":
            by_series[(a["person"], a["source"])].append((t, a))
        if a.get("source"):
            by_source[a["source"]].append((t, a))
    for lst in (*by_series.values(), *by_source.values()):
        lst.sort(key=lambda x: x[0])
    spans: dict[Key, list[tuple[float, float, bool]]] = defaultdict(list)
    tracks: dict[Key, SeriesTrack] = {
        k: SeriesTrack([], [], []) for k, r in roles.items() if r == "watch"
    }
    for ev in labels["events"]:
        _score_event(fig, ev, by_series, valid, spans, tracks)
    _false_alerts(fig, labels, roles, by_series, spans)
    _incidents(fig, labels, by_source)
    for key, lst in by_series.items():
        track = tracks.get(key)
        if track is not None:
            track.detections = [t for t, a in lst if a["event"] == "drop"]
    # Person alerts on controls are false positives too: a track with no window.
    extra = [
        SeriesTrack([], [], [t for t, a in lst if a["event"] == "drop"])
        for key, lst in by_series.items()
        if key not in tracks
    ]
    probation = start + PROBATION_DAYS * 86400.0
    for profile in PROFILES:
        fig.nab[profile] = score_tracks([*tracks.values(), *extra], profile, probation)
    return fig


def _score_event(
    fig: Figures,
    ev: dict[str, Any],
    by_series: dict[Key, list[tuple[float, dict[str, Any]]]],
    valid: dict[Key, list[float]],
    spans: dict[Key, list[tuple[float, float, bool]]],
    tracks: dict[Key, SeriesTrack],
) -> None:
    major = bool(ev["major"])
    detected = False
    classes: set[Any] = set()
    for source in ev["sources"]:
        key = (ev["person"], source)
        onset = _ts(ev["onsets"][source])
        end_s = ev["ends"].get(source)
        restored = _ts(end_s) if end_s else INF
        window_end = min(onset + WINDOW_S, restored)
        spans[key].append((onset, restored + SPAN_GRACE_S, major))
        track = tracks.get(key)
        if track is not None:
            if major:
                track.windows.append((onset, onset + WINDOW_S))
                track.ignore.append((onset + WINDOW_S, restored + SPAN_GRACE_S))
            else:
                track.ignore.append((onset, restored + SPAN_GRACE_S))
        lst = by_series.get(key, [])
        first = next(
            ((t, a) for t, a in lst if a["event"] == "drop" and onset <= t < window_end), None
        )
        if major:
            fig.pairs[0] += 1
        if first is not None:
            detected = True
            if major:
                t, a = first
                fig.pairs[1] += 1
                fig.delays.append(max(0, _valid_between(valid.get(key, []), onset, t) - 1))
                fig.delay_hours.append((t - onset) / 3600.0)
                classes.add(a.get("classification"))
        if major and end_s and {"recovered", "partial"} & set(ev["expected"]):
            fig.recoveries[0] += 1
            times = valid.get(key, [])
            i = bisect.bisect_left(times, restored)
            limit = times[i + RECOVERY_CHECKS - 1] if i + RECOVERY_CHECKS - 1 < len(times) else INF
            rec = next(
                (
                    a
                    for t, a in lst
                    if a["event"] in ("recovered", "partial") and restored <= t <= limit
                ),
                None,
            )
            if rec is not None:
                fig.recoveries[1] += 1
                fig.recoveries[2] += rec["event"] == ev["expected"][-1]
    if classes and ev.get("classification"):
        fig.classification[0] += 1
        fig.classification[1] += ev["classification"] in classes
    counts = fig.by_type.setdefault(ev["type"], [0, 0])
    counts[0] += 1
    counts[1] += detected
    fig.every[0] += 1
    fig.every[1] += detected
    if major:
        fig.major[0] += 1
        fig.major[1] += detected


def _false_alerts(
    fig: Figures,
    labels: dict[str, Any],
    roles: dict[Key, str],
    by_series: dict[Key, list[tuple[float, dict[str, Any]]]],
    spans: dict[Key, list[tuple[float, float, bool]]],
) -> None:
    negatives = labels["must_not_alert"]
    causes: Counter[str] = Counter()
    for key, lst in by_series.items():
        open_false = False
        for t, a in lst:
            if a["event"] == "recovered":
                open_false = False
                continue
            span = next((m for lo, hi, m in spans.get(key, []) if lo <= t < hi), None)
            if span is not None and roles.get(key) == "watch":
                fig.true_alerts += span  # a minor event's span neither earns nor costs
                continue
            if a["event"] == "partial" and open_false:
                continue
            open_false = a["event"] == "drop"
            fig.false_alerts += 1
            if roles.get(key) == "control":
                causes["control"] += 1
                continue
            after = [hi for lo, hi, _ in spans.get(key, []) if t >= hi]
            if after:  # the series of a labelled event, after its span: re-alerting
                causes["after_event"] += 1
                continue
            cause = next(
                (
                    g["type"]
                    for g in negatives
                    if key[0] in g["persons"]
                    and key[1] in g["sources"]
                    and _ts(g["start"])
                    <= t
                    < _ts(g["end"]) + (INCIDENT_GRACE_S if g["type"] == "engine_incident" else 0.0)
                ),
                "other",
            )
            causes[cause] += 1
    fig.false_by_cause = dict(causes)


def _incidents(
    fig: Figures, labels: dict[str, Any], by_source: dict[str, list[tuple[float, dict[str, Any]]]]
) -> None:
    for inc in labels["engine_incidents"]:
        lo, hi = _ts(inc["onset"]), _ts(inc["end"]) + INCIDENT_GRACE_S
        inside = [a for t, a in by_source.get(inc["source"], []) if lo <= t < hi]
        clean = not any(a.get("event") in PERSON_EVENTS for a in inside)
        flagged = any(a.get("event") in ("source_incident", "source_unhealthy") for a in inside)
        row = fig.incidents.setdefault(inc["kind"], [0, 0, 0])
        row[0] += 1
        row[1] += clean
        row[2] += flagged
