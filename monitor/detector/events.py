"""What the detector reports: events, and the evidence each one carries.

An ``Event`` holds every field the alert payload (``monitor.alerts.payload``) needs except what
only the store knows (alert id, episode id, vanished images: the round finds those from
``snapshot_ids``). The one mapping to the payload is ``monitor.alerts.events.payload_of``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from monitor.detector.state import Metric, SeriesStatus

EventKind = Literal[
    "drop",
    "partial",
    "recovered",
    "source_incident",
    "source_unhealthy",
    "source_recovered",
    "stale",
]
Classification = Literal["single_source", "corroborated", "global"]
EpisodeInfoState = Literal["open", "partial", "resolved"]


def from_ts(ts: float) -> datetime:
    """The aware UTC datetime of epoch seconds."""
    return datetime.fromtimestamp(ts, UTC)


@dataclass(frozen=True, slots=True)
class Confirmation:
    """One valid check that confirmed a transition (a drop, partial or recovery)."""

    t: datetime
    status: str
    count: int
    domains: int | None
    snapshot_id: int | None

    def value(self, metric: Metric) -> int | None:
        """The check's value of ``metric``."""
        return self.count if metric == "images" else self.domains


@dataclass(frozen=True, slots=True)
class ControlReading:
    """A control query on the event's source in this round, and whether it looked wrong."""

    term: str
    status: str | None
    observed: int | None
    baseline: float | None
    bad: bool  # failed, or fell to control_drop_ratio of its own baseline


@dataclass(frozen=True, slots=True)
class PeerSummary:
    """The latest state of the same person's series on another source (corroboration)."""

    source: str
    family: str
    term: str
    vantage: str
    status: str | None  # status of its latest check
    observed: int | None  # its latest valid count
    baseline: float | None  # frozen baseline in an episode, else the current baseline
    state: SeriesStatus
    stale: bool = False

    @property
    def dropping(self) -> bool:
        """True when that series shows images missing (pending, dropped or partial)."""
        return self.state in ("pending", "dropped", "partial")


@dataclass(frozen=True, slots=True)
class Event:
    """One thing worth telling someone. Person-level fields are ``None`` for source events."""

    event: EventKind
    source: str
    family: str
    t: datetime
    reason: str
    person: str | None = None
    term: str | None = None
    vantage: str | None = None
    metric: Metric | None = None
    observed: int | None = None
    baseline: float | None = None
    baseline_window_days: int | None = None
    ratio: float | None = None
    classification: Classification | None = None
    episode_start: datetime | None = None
    episode_state: EpisodeInfoState | None = None
    confirming: tuple[Confirmation, ...] = ()
    other_sources: tuple[PeerSummary, ...] = ()
    controls: tuple[ControlReading, ...] = ()
    people_involved: tuple[str, ...] = ()

    @property
    def snapshot_ids(self) -> tuple[int, ...]:
        """Snapshots of the confirming checks: the evidence to attach."""
        return tuple(c.snapshot_id for c in self.confirming if c.snapshot_id is not None)
