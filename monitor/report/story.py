"""A person's story for the top of the report ("What happened"): one line per episode, in
time order, each with the evidence behind it.

A line is what a reader thinks of as one event: the person on one source (and vantage)
from the first low check to the end. Alerts are per person now, so the drop episodes of a
person's names (one per name) that share an alert are one line; a drop episode no alert
covers (never confirmed into an alert, e.g. during an engine incident) is a line of its
own, marked as not alerted. Source-wide episodes (a source unhealthy, stale) on the
person's sources are lines too, because they explain gaps in the charts.

For each drop line: start (the first low check), confirmation (the first drop or partial
alert), the counts before (the episode's frozen baseline) and after (the first low check)
per name, and back (the recovery alert's figures), where the person was still visible at
confirmation (the alert's other sources that were neither dropped nor partial and showed
images), the end (the episode's close) and the evidence: the alerts, the checks they hold
(snapshot ids) and the kept responses' SHA-256.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from monitor.report.marks import AlertMark, EpisodeSpan
from monitor.store.report_reads import AlertRow, alerts_by_id
from monitor.store.story_reads import (
    DropEpisodeRow,
    HeldEvidence,
    alerts_covering,
    drop_episodes,
    held_evidence,
)

PERSON_EVENTS = ("drop", "partial", "recovered")
LOW_STATES = ("dropped", "partial")


@dataclass(frozen=True, slots=True)
class NameChange:
    """One of the person's names in a drop line: its count before, after, and when back."""

    term: str
    before: float | None  # the episode's frozen baseline
    after: int | None  # the first low check
    back: int | None  # the recovery alert's figure, None while not back


@dataclass(frozen=True, slots=True)
class Visible:
    """A source where the person was still visible when the drop was confirmed."""

    source: str
    count: int | None


@dataclass
class StoryLine:
    """One episode of the person's story (see module docstring)."""

    key: str  # unique in the person's section: an anchor
    kind: str  # drop | unhealthy | stale
    source: str
    vantage: str | None  # None for a source-wide episode
    start: datetime
    end: datetime | None  # None while open
    state: str  # open | partial | resolved
    metric: str | None = None
    confirmed: datetime | None = None
    names: list[NameChange] = field(default_factory=list)
    visible: list[Visible] = field(default_factory=list)
    alerts: list[AlertMark] = field(default_factory=list)
    evidence: list[HeldEvidence] = field(default_factory=list)
    episode_ids: list[int] = field(default_factory=list)
    series_ids: list[int] = field(default_factory=list)

    @property
    def alerted(self) -> bool:
        return bool(self.alerts)

    @property
    def opening_alerts(self) -> list[AlertMark]:
        """The alerts that told of the drop (drop, partial): the gallery's images."""
        return [a for a in self.alerts if a.event in ("drop", "partial")]

    @property
    def closing_alert(self) -> AlertMark | None:
        """The alert that told of the end, when there is one."""
        ends = [a for a in self.alerts if a.event in ("recovered", "source_recovered")]
        return ends[-1] if ends else None


def story_lines(session: Session, person_id: int, spans: Sequence[EpisodeSpan]) -> list[StoryLine]:
    """The person's story: their drop lines from the store, and a line for each of
    ``spans`` (the source-wide episodes on the person's sources, each once)."""
    episodes = drop_episodes(session, person_id)
    covering = alerts_covering(
        session, [e.episode_id for e in episodes] + [s.episode_id for s in spans]
    )
    wanted = sorted({a for ids in covering.values() for a in ids})
    rows = {a.alert_id: a for a in alerts_by_id(session, wanted)}
    lines = _drop_lines(episodes, covering, rows)
    for span in spans:
        line = StoryLine(
            f"e{span.episode_id}", span.kind, span.source, None, span.start, span.end, span.state
        )
        line.episode_ids = [span.episode_id]
        covered = sorted(covering.get(span.episode_id, ()))
        line.alerts = [mark_of(rows[a]) for a in covered if a in rows]
        lines.append(line)
    held = held_evidence(session, wanted)
    for line in lines:
        ids = {a.alert_id for a in line.alerts}
        line.evidence = [h for h in held if h.alert_id in ids]
    lines.sort(key=lambda ln: (ln.start, ln.kind != "drop", ln.key))
    return lines


def _drop_lines(
    episodes: Sequence[DropEpisodeRow],
    covering: Mapping[int, set[int]],
    rows: Mapping[int, AlertRow],
) -> list[StoryLine]:
    """Drop episodes grouped into lines: episodes that share a person alert are one line."""
    person_alerts = {
        e.episode_id: {a for a in covering.get(e.episode_id, ()) if _is_person(rows.get(a))}
        for e in episodes
    }
    groups: list[tuple[list[DropEpisodeRow], set[int]]] = []
    for ep in episodes:
        mine = person_alerts[ep.episode_id]
        joined = [g for g in groups if mine & g[1]]
        merged: tuple[list[DropEpisodeRow], set[int]] = ([ep], set(mine))
        for g in joined:
            groups.remove(g)
            merged = (g[0] + merged[0], g[1] | merged[1])
        groups.append(merged)
    return [_drop_line(eps, sorted(alert_ids), rows) for eps, alert_ids in groups]


def _is_person(row: AlertRow | None) -> bool:
    return row is not None and row.event in PERSON_EVENTS


def _drop_line(
    eps: list[DropEpisodeRow], alert_ids: list[int], rows: Mapping[int, AlertRow]
) -> StoryLine:
    eps = sorted(eps, key=lambda e: (e.opened_at, e.episode_id))
    first = eps[0]
    open_ = [e for e in eps if e.closed_at is None]
    # The person is down while any name is; partial only when every open name is partial.
    state = "resolved"
    if open_:
        state = "partial" if all(e.state == "partial" for e in open_) else "open"
    ends = [e.closed_at for e in eps if e.closed_at is not None]
    line = StoryLine(
        f"e{first.episode_id}",
        "drop",
        first.source,
        first.vantage,
        first.opened_at,
        None if open_ else max(ends),
        state,
        first.metric,
    )
    line.episode_ids = [e.episode_id for e in eps]
    line.series_ids = sorted({e.series_id for e in eps})
    line.alerts = [mark_of(rows[a]) for a in alert_ids if a in rows]
    opening = line.opening_alerts
    if opening:
        line.confirmed = opening[0].t
        line.visible = still_visible(rows[opening[0].alert_id].payload)
    closing = line.closing_alert
    back = _observed(rows[closing.alert_id].payload) if closing else {}
    # The person's names in their configured order (series are stored in term order).
    by_name = sorted(eps, key=lambda e: e.series_id)
    line.names = [NameChange(e.term, e.baseline, e.opened_count, back.get(e.term)) for e in by_name]
    return line


def mark_of(row: AlertRow) -> AlertMark:
    """An alert as the report shows it."""
    payload = row.payload
    terms = payload.get("terms")
    names = (
        tuple(t["term"] for t in terms if isinstance(t, dict) and isinstance(t.get("term"), str))
        if isinstance(terms, list)
        else ()
    )
    return AlertMark(
        row.alert_id,
        row.created_at,
        row.event,
        row.source or _str(payload.get("source")),
        _str(payload.get("term")),
        _str(payload.get("reason")) or "",
        row.series_id,
        names,
        row.episode_id,
        _str(payload.get("vantage")),
        _str(payload.get("vantage_scope")),
    )


def still_visible(payload: Mapping[str, Any]) -> list[Visible]:
    """The other sources of an alert where the person still showed images."""
    out = []
    others = payload.get("other_sources")
    for other in others if isinstance(others, list) else []:
        if not isinstance(other, dict) or not isinstance(other.get("source"), str):
            continue
        if other.get("state") in LOW_STATES:
            continue
        terms = other.get("terms")
        counts = [
            t["observed"]
            for t in (terms if isinstance(terms, list) else [])
            if isinstance(t, dict) and isinstance(t.get("observed"), int)
        ]
        if counts and max(counts) > 0:
            out.append(Visible(other["source"], max(counts)))
    return out


def _observed(payload: Mapping[str, Any]) -> dict[str, int]:
    terms = payload.get("terms")
    return {
        t["term"]: t["observed"]
        for t in (terms if isinstance(terms, list) else [])
        if isinstance(t, dict)
        and isinstance(t.get("term"), str)
        and isinstance(t.get("observed"), int)
    }


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None
