"""What the detector reads: one check of one series, and the series' identity.

A ``Point`` is a check reduced to what detection needs. ``count`` and ``domains`` are
``None`` for a failed check (never zero): only ``ok`` and ``no_results`` are observations.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, NamedTuple

from monitor.core.observation import Status

Role = Literal["watch", "control"]
ROLES: frozenset[str] = frozenset({"watch", "control"})


class SeriesKey(NamedTuple):
    """One series: a person's term on one source from one vantage (egress)."""

    person: str
    term: str
    source: str
    vantage: str = ""


@dataclass(frozen=True, slots=True)
class Point:
    """One check: when, its status, distinct images and distinct source domains.

    ``t`` must be aware. ``count`` is required for ``ok`` and ``no_results`` (0 for the
    latter) and must be ``None`` for every failed status.
    """

    t: datetime
    status: Status
    count: int | None = None
    domains: int | None = None
    snapshot_id: int | None = None

    def __post_init__(self) -> None:
        if self.t.tzinfo is None:
            raise ValueError("Point.t must be an aware datetime")
        if self.status.is_observation:
            if self.count is None or self.count < 0:
                raise ValueError(f"a {self.status} check needs a count >= 0")
            if self.status is Status.NO_RESULTS and self.count != 0:
                raise ValueError("a no_results check counts 0 images")
        elif self.count is not None:
            raise ValueError(f"a failed check ({self.status}) has no count")

    @property
    def valid(self) -> bool:
        """True for an observation (``ok`` or ``no_results``)."""
        return self.status.is_observation


class RoundInput(NamedTuple):
    """One check of a round: which series, in which role, and what it saw."""

    key: SeriesKey
    role: Role
    point: Point
