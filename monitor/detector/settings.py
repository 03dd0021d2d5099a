"""Detection settings: the ``detection:`` block of config.yaml, with per-source overrides.

Every default is chosen to be explainable in an alert and is justified in
``shared/research/detection.md`` §2.7 (the "RRB-HG" rule: robust ratio to baseline, health
gated). ``with_overrides`` applies a source's ``detection:`` mapping; ``with_assignments``
applies ``key=value`` strings as given on the backtest command line
(``--set detection.drop_ratio=0.25``). An unknown key is a pydantic ``ValidationError`` that
names it, because ``extra="forbid"``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from monitor.sources.base import Duration

_PREFIX = "detection."


class DetectionSettings(BaseModel):
    """Thresholds of the detector; immutable, validated, cheap to read in the hot path."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # --- baseline ------------------------------------------------------------------------
    # Fewer valid checks than this in the short window: state insufficient_data, no verdict.
    min_history: int = Field(default=8, ge=2)
    # Baseline = the lower of the two medians, so the end of a news spike is not a drop.
    short_window: Duration = timedelta(days=14)
    long_window: Duration = timedelta(days=56)

    # --- drop rule -----------------------------------------------------------------------
    # Documented erasures land at 0-10% of baseline: 0.3 leaves a 3x margin.
    drop_ratio: float = Field(default=0.3, gt=0, lt=1)
    # Robust z-score of log(count+1) against the short window must be below -z_threshold,
    # so naturally volatile series do not trip on noise.
    z_threshold: float = Field(default=3.0, ge=0)
    # Added to the scaled MAD so a perfectly flat history does not make every wobble infinite.
    mad_floor: float = Field(default=0.05, ge=0)
    # K consecutive valid checks confirm a drop (a glitch of probability p alerts ~p^K).
    confirm_checks: int = Field(default=2, ge=1)
    # After the first sign of a drop the series is re-checked this soon, not a cadence later.
    recheck_after: Duration = timedelta(minutes=45)
    # A pending drop with no valid check for this long is forgotten (its evidence is old).
    pending_expires_after: Duration = timedelta(hours=48)

    # --- episodes ------------------------------------------------------------------------
    # At or above this share of the frozen baseline for K checks: recovered; between
    # drop_ratio and this: partial.
    recover_ratio: float = Field(default=0.7, gt=0, le=1)
    # A partial restoration sits between the two thresholds, where noise crosses one of them
    # most often (at sigma 0.25 a level of 50% tops 70% on 1 check in 11), so leaving
    # ``partial`` (to recovered, or back to dropped) takes this many checks in a row.
    partial_exit_checks: int = Field(default=3, ge=1)

    # --- tiny baselines ------------------------------------------------------------------
    # Below this many images counts are discrete and flappy: alert only on a sustained,
    # positive no_results (never on an ok page that merely parsed few items).
    tiny_baseline: float = Field(default=20, ge=0)
    tiny_no_results_checks: int = Field(default=3, ge=1)
    # Below this the series carries no signal at all and never alerts.
    tiny_min_baseline: float = Field(default=5, ge=0)

    # --- soft censorship: the same rule on distinct source domains -----------------------
    domains_rule: bool = True
    domains_min_baseline: float = Field(default=10, ge=1)

    # --- controls and engine incidents ---------------------------------------------------
    # A control is bad in a round when it failed or fell to this share of its own baseline.
    control_drop_ratio: float = Field(default=0.5, gt=0, lt=1)
    # The round is the engine's fault when at least this share of its controls are bad
    # (a majority, so one control hitting a random timeout does not gate the round).
    controls_bad_fraction: float = Field(default=0.5, gt=0, le=1)
    # ... or when at least max(incident_min_people, incident_fraction x watched people with a
    # valid check this round) show a new drop signal at once (people: a person's names and
    # aliases count once).
    incident_min_people: int = Field(default=3, ge=1)
    incident_fraction: float = Field(default=0.3, gt=0, le=1)

    # --- health --------------------------------------------------------------------------
    # A source whose every check failed for this long, or this many rounds in a row, is
    # unhealthy (one alert per episode).
    unhealthy_after: Duration = timedelta(hours=24)
    unhealthy_checks: int = Field(default=4, ge=1)
    # A series without a valid check for this long is stale (one event until it recovers).
    stale_after: Duration = timedelta(days=3)

    @cached_property
    def seconds(self) -> Seconds:
        """The durations as float seconds (and windows as days), computed once: the hot
        path reads them for every check."""
        return Seconds(
            short_window=self.short_window.total_seconds(),
            long_window=self.long_window.total_seconds(),
            short_days=round(self.short_window.total_seconds() / 86400),
            long_days=round(self.long_window.total_seconds() / 86400),
            pending_expires_after=self.pending_expires_after.total_seconds(),
            stale_after=self.stale_after.total_seconds(),
            unhealthy_after=self.unhealthy_after.total_seconds(),
        )

    @model_validator(mode="after")
    def _coherent(self) -> DetectionSettings:
        if self.recover_ratio <= self.drop_ratio:
            raise ValueError("recover_ratio must be above drop_ratio (hysteresis)")
        if self.long_window < self.short_window:
            raise ValueError("long_window must not be shorter than short_window")
        if self.short_window <= timedelta(0):
            raise ValueError("short_window must be positive")
        return self

    def with_overrides(self, overrides: Mapping[str, Any]) -> DetectionSettings:
        """A copy with ``overrides`` applied and validated (unknown keys are errors).

        Keys may carry a ``detection.`` prefix, as on the backtest command line.
        """
        if not overrides:
            return self
        data = self.model_dump()
        for key, value in overrides.items():
            data[key.removeprefix(_PREFIX)] = value
        return DetectionSettings.model_validate(data)

    def with_assignments(self, assignments: Iterable[str]) -> DetectionSettings:
        """A copy with ``key=value`` strings applied (``drop_ratio=0.25``, ``short_window=7d``).

        Values are strings and converted by the fields' own validators; a string without
        ``=`` raises ``ValueError``.
        """
        return self.with_overrides(parse_assignments(assignments))


@dataclass(frozen=True, slots=True)
class Seconds:
    """``DetectionSettings`` durations in seconds."""

    short_window: float
    long_window: float
    short_days: int
    long_days: int
    pending_expires_after: float
    stale_after: float
    unhealthy_after: float


def parse_assignments(assignments: Iterable[str]) -> dict[str, str]:
    """``["detection.drop_ratio=0.25"]`` -> ``{"drop_ratio": "0.25"}``."""
    out: dict[str, str] = {}
    for item in assignments:
        key, sep, value = item.partition("=")
        key = key.strip().removeprefix(_PREFIX)
        if not sep or not key:
            raise ValueError(f'"{item}" is not a setting (use key=value, e.g. drop_ratio=0.25)')
        out[key] = value.strip()
    return out
