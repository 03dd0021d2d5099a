"""Per-series detector state: O(window) memory, serialisable to a compact JSON-able dict.

The state holds what the rules need and nothing more: the valid checks of the long window
(the short window is a suffix of it), the checks of a drop that is pending confirmation, the
open episode with its frozen baseline, and the bookkeeping for staleness. ``to_dict`` and
``from_dict`` round-trip it; a dict of another ``version`` gives a fresh state, which the
pipeline rebuilds by replaying the series' snapshots.

States are mutable and updated in place by ``monitor.detector.series``; whoever hands a
state to ``process_round`` gives up the old value (keep ``to_dict()`` if it is needed).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from monitor.detector.settings import DetectionSettings
from monitor.detector.stats import Window

logger = logging.getLogger(__name__)

STATE_VERSION = 1

Metric = Literal["images", "domains"]
EpisodeState = Literal["open", "partial"]
SeriesStatus = Literal["insufficient_data", "normal", "pending", "dropped", "partial"]


class Check(NamedTuple):
    """A valid check kept as evidence: when, status, images, domains, snapshot."""

    ts: float
    status: str
    images: int
    domains: int | None
    snapshot_id: int | None

    def value(self, metric: Metric) -> int | None:
        """The check's value of ``metric``."""
        return self.images if metric == "images" else self.domains


@dataclass(slots=True)
class DropEpisode:
    """An open drop: the metric that dropped, its frozen baseline, and transitions under way.

    ``drop_run``/``partial_run``/``recover_run`` hold the consecutive valid checks seen in
    each zone; a transition needs K of them in a row, like the drop itself.
    """

    metric: Metric
    baseline: float
    baseline_days: int
    started: float
    state: EpisodeState = "open"
    drop_run: list[Check] = field(default_factory=list)
    partial_run: list[Check] = field(default_factory=list)
    recover_run: list[Check] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "baseline": self.baseline,
            "baseline_days": self.baseline_days,
            "started": self.started,
            "state": self.state,
            "drop_run": [list(c) for c in self.drop_run],
            "partial_run": [list(c) for c in self.partial_run],
            "recover_run": [list(c) for c in self.recover_run],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DropEpisode:
        return cls(
            metric=d["metric"],
            baseline=float(d["baseline"]),
            baseline_days=int(d["baseline_days"]),
            started=float(d["started"]),
            state=d["state"],
            drop_run=[Check(*c) for c in d["drop_run"]],
            partial_run=[Check(*c) for c in d["partial_run"]],
            recover_run=[Check(*c) for c in d["recover_run"]],
        )


@dataclass(slots=True)
class SeriesState:
    """Everything the detector remembers about one series between rounds."""

    short: Window
    long: Window
    pending: list[Check] = field(default_factory=list)
    streak_images: int = 0
    streak_domains: int = 0
    episode: DropEpisode | None = None
    failures: int = 0  # consecutive failed checks
    first_t: float | None = None
    last_t: float | None = None
    last_valid_t: float | None = None
    stale: bool = False
    sufficient: bool = False  # enough valid history for a verdict at the last valid check
    # Dropping during an engine incident: its windows stop ageing so its baseline survives
    # the incident, however long (else it would fade to insufficient_data and the incident
    # would dissolve into per-person alerts).
    held: bool = False
    last_status: str | None = None
    last_count: int | None = None
    last_domains: int | None = None

    @classmethod
    def new(cls, settings: DetectionSettings) -> SeriesState:
        """An empty state sized by the settings' windows."""
        return cls(
            short=Window(settings.short_window.total_seconds()),
            long=Window(settings.long_window.total_seconds()),
        )

    @property
    def status(self) -> SeriesStatus:
        """Where the series stands, as shown to people and peers."""
        if self.episode is not None:
            return "dropped" if self.episode.state == "open" else "partial"
        if self.pending:
            return "pending"
        return "normal" if self.sufficient else "insufficient_data"

    def add_valid(self, check: Check) -> None:
        """Put a valid check into both baseline windows."""
        self.short.add(check.ts, check.images, check.domains)
        self.long.add(check.ts, check.images, check.domains)

    def expire(self, now: float) -> None:
        """Forget checks that left the windows by ``now``."""
        self.short.expire(now)
        self.long.expire(now)

    def to_dict(self) -> dict[str, Any]:
        """A compact JSON-able form (times as epoch seconds)."""
        return {
            "version": STATE_VERSION,
            "window": [list(e) for e in self.long.entries],
            "pending": [list(c) for c in self.pending],
            "streaks": [self.streak_images, self.streak_domains],
            "episode": self.episode.to_dict() if self.episode else None,
            "failures": self.failures,
            "times": [self.first_t, self.last_t, self.last_valid_t],
            "stale": self.stale,
            "sufficient": self.sufficient,
            "held": self.held,
            "last": [self.last_status, self.last_count, self.last_domains],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], settings: DetectionSettings) -> SeriesState:
        """The state ``to_dict`` wrote; a fresh state if the version is not ours."""
        state = cls.new(settings)
        if d.get("version") != STATE_VERSION:
            logger.info(
                "detector state version %r is not %d: rebuilding", d.get("version"), STATE_VERSION
            )
            return state
        state.first_t, state.last_t, state.last_valid_t = d["times"]
        # The short window is the suffix of the long one still inside it at the last check
        # (later checks only ever expire more).
        ref = state.last_valid_t
        short_from = None if ref is None else ref - state.short.span
        for ts, count, domains in d["window"]:
            state.long.add(ts, count, domains)
            if short_from is not None and ts > short_from:
                state.short.add(ts, count, domains)
        state.pending = [Check(*c) for c in d["pending"]]
        state.streak_images, state.streak_domains = d["streaks"]
        state.episode = DropEpisode.from_dict(d["episode"]) if d["episode"] else None
        state.failures = d["failures"]
        state.stale = d["stale"]
        state.sufficient = d["sufficient"]
        state.held = d["held"]
        state.last_status, state.last_count, state.last_domains = d["last"]
        return state
