"""The marks a person's charts and story share: an alert and an episode, as the report
shows them.

Their own module because the person view (``data``), the story (``story``) and the
vanished images (``vanished``, which links each image to the alerts that reported it) all
read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class AlertMark:
    """An alert, placed on the chart and listed under the person; ``terms`` are the names
    a person alert covers (its payload's ``terms``), ``episode_id`` the episode its row
    names, ``vantage`` where its checks ran from and ``scope`` its ``vantage_scope``
    (``vantage_specific``, ``all_vantages``; None with one vantage)."""

    alert_id: int
    t: datetime
    event: str
    source: str | None
    term: str | None
    reason: str
    series_id: int | None
    terms: tuple[str, ...] = ()
    episode_id: int | None = None
    vantage: str | None = None
    scope: str | None = None


@dataclass(frozen=True, slots=True)
class EpisodeSpan:
    """An episode: a drop of one series, or a period when a whole source was unhealthy."""

    episode_id: int
    kind: str  # drop | unhealthy | stale
    state: str  # open | partial | resolved
    start: datetime
    end: datetime | None  # None while open
    baseline: float | None
    metric: str | None
    source_wide: bool
    source: str = ""
