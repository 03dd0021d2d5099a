"""Source health: is the engine (or our scraper) working at all, and is a round trustworthy?

``SourceHealth`` is the per-source state kept between rounds, next to the series states.
A round in which every check failed is a *failed round*. After ``unhealthy_checks`` failed
rounds in a row, or failures lasting ``unhealthy_after``, the source is unhealthy: one
``source_unhealthy`` event, then ``source_recovered`` at its next round with a valid check.
``incident_open`` makes an engine incident one event however many rounds it lasts; ``held``
remembers who was dropping during it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from monitor.detector.points import SeriesKey
from monitor.detector.settings import DetectionSettings

HEALTH_VERSION = 1


@dataclass(slots=True)
class SourceHealth:
    """Between-rounds state of one source."""

    failed_rounds: int = 0
    failing_since: float | None = None  # epoch seconds of the first failed round in a row
    unhealthy: bool = False
    incident_open: bool = False
    incident_since: float | None = None
    # Series that showed a drop in a gated round and have not been seen normal since, with
    # when they were last seen dropping. Until then they count as dropping even in rounds
    # that miss them (a failed check, a re-check round), so an incident does not dissolve
    # into per-person alerts one missing check at a time.
    held: dict[SeriesKey, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form."""
        return {
            "version": HEALTH_VERSION,
            "failed_rounds": self.failed_rounds,
            "failing_since": self.failing_since,
            "unhealthy": self.unhealthy,
            "incident_open": self.incident_open,
            "incident_since": self.incident_since,
            "held": [[*k, ts] for k, ts in sorted(self.held.items())],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SourceHealth:
        """The health ``to_dict`` wrote; a fresh one for another version."""
        if d.get("version") != HEALTH_VERSION:
            return cls()
        return cls(
            failed_rounds=d["failed_rounds"],
            failing_since=d["failing_since"],
            unhealthy=d["unhealthy"],
            incident_open=d["incident_open"],
            incident_since=d["incident_since"],
            held={SeriesKey(*h[:4]): h[4] for h in d["held"]},
        )


HealthChange = Literal["unhealthy", "recovered"] | None


def update_health(
    health: SourceHealth, *, failed_round: bool, now: float, s: DetectionSettings
) -> HealthChange:
    """Count a round; the health transition it causes, if any. Mutates ``health``."""
    if not failed_round:
        was_unhealthy = health.unhealthy
        health.failed_rounds = 0
        health.failing_since = None
        health.unhealthy = False
        return "recovered" if was_unhealthy else None
    health.failed_rounds += 1
    if health.failing_since is None:
        health.failing_since = now
    if health.unhealthy:
        return None
    too_many = health.failed_rounds >= s.unhealthy_checks
    too_long = now - health.failing_since >= s.seconds.unhealthy_after
    if too_many or too_long:
        health.unhealthy = True
        return "unhealthy"
    return None
