"""What needs a reader's attention, for the top of the overview page (above the grid):

- ``open``: the episodes still open, oldest first. A person's names that are down on one
  source and vantage are one item (alerts are per person), with each name's baseline and
  latest count; a source-wide episode (a source unhealthy) is an item of its own;
- ``alerts``: the latest ``RECENT_ALERTS`` alerts with their dates, newest first;
- ``sources``: each source's last check, last success and, while its latest check failed,
  since when every check has failed.

Built from ``store.overview_reads`` rows; no SQL, no HTML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from monitor.report.marks import AlertMark
from monitor.report.story import mark_of
from monitor.store.overview_reads import (
    OpenEpisodeRow,
    SourceHealthRow,
    open_episodes,
    recent_alerts,
    source_health,
)
from monitor.store.story_reads import alerts_covering

RECENT_ALERTS = 20


@dataclass(frozen=True, slots=True)
class OpenName:
    """One of a person's names in an open episode: its baseline and its latest count."""

    term: str
    baseline: float | None
    latest: int | None


@dataclass
class OpenItem:
    """An open episode as the overview lists it (see module docstring)."""

    kind: str  # drop | unhealthy | stale
    state: str  # open | partial
    person: str | None  # None for a source-wide episode
    source: str
    vantage: str | None
    since: datetime
    metric: str | None = None
    names: list[OpenName] = field(default_factory=list)
    alert_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RecentAlert:
    """An alert with the person it is about (None: about a source)."""

    mark: AlertMark
    person: str | None


@dataclass
class Attention:
    """The overview's top part: open episodes, recent alerts, sources."""

    open: list[OpenItem]
    alerts: list[RecentAlert]
    sources: list[SourceHealthRow]


def attention(session: Session) -> Attention:
    """What needs attention now (see module docstring)."""
    rows = open_episodes(session)
    covering = alerts_covering(session, [r.episode_id for r in rows])
    latest = recent_alerts(session, RECENT_ALERTS)
    recent = [RecentAlert(mark_of(a), person) for a, person in latest]
    return Attention(_items(rows, covering), recent, source_health(session))


def _items(rows: list[OpenEpisodeRow], covering: dict[int, set[int]]) -> list[OpenItem]:
    items: dict[tuple[str, str | None, str | None, int | None], OpenItem] = {}
    for r in rows:
        # One item per person, source and vantage; a source-wide episode is its own.
        key = (r.source, r.vantage, r.person, None if r.person else r.episode_id)
        item = items.get(key)
        if item is None:
            item = items[key] = OpenItem(
                r.kind, r.state, r.person, r.source, r.vantage, r.opened_at, r.metric
            )
        elif r.state == "open":
            item.state = "open"  # the person is down while any name is
        if r.term is not None:
            item.names.append(OpenName(r.term, r.baseline, r.latest_count))
        for alert_id in sorted(covering.get(r.episode_id, ())):
            if alert_id not in item.alert_ids:
                item.alert_ids.append(alert_id)
    return sorted(items.values(), key=lambda i: (i.person is None, i.since))
