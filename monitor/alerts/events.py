"""The one mapping from a detector ``Event`` to the alert payload.

Pure: what only the store knows (the alert id, the episode row, the vanished images) comes in
as arguments. The daemon's rounds, the ``check`` command and the backtest all build their
payloads here, so an alert reads the same whichever path produced it.
"""

from __future__ import annotations

from monitor.alerts.payload import build_payload
from monitor.alerts.schema import (
    AlertPayload,
    CheckInfo,
    ControlCheck,
    EpisodeInfo,
    OtherSource,
    VanishedImage,
)
from monitor.core.clock import iso_utc
from monitor.detector.events import Event


def episode_info(event: Event, *, episode_id: int, state: str | None = None) -> EpisodeInfo | None:
    """The episode block of ``event``'s payload (None when it belongs to no episode);
    ``state`` is the stored episode's state when the store moved it."""
    if event.episode_start is None:
        return None
    return EpisodeInfo(
        id=episode_id,
        started_at=iso_utc(event.episode_start),
        state=state or event.episode_state or "open",
    )


def payload_of(
    event: Event,
    *,
    alert_id: int,
    episode: EpisodeInfo | None,
    vanished: list[VanishedImage],
) -> AlertPayload:
    """The payload of a detector event; pure (the daemon and the backtest both use it)."""
    metric = event.metric or "images"
    return build_payload(
        event=event.event,
        alert_id=alert_id,
        checked_at=event.t,
        reason=event.reason,
        person=event.person,
        term=event.term,
        source=event.source,
        vantage=event.vantage,
        observed=event.observed,
        baseline=event.baseline,
        baseline_window_days=event.baseline_window_days,
        ratio=event.ratio,
        metric=event.metric,
        classification=event.classification,
        episode=episode,
        confirming_checks=[
            CheckInfo(checked_at=iso_utc(c.t), status=c.status, observed=c.value(metric))
            for c in event.confirming
        ],
        vanished_images=vanished,
        other_sources=[
            OtherSource(
                source=p.source,
                family=p.family,
                status=p.status,
                observed=p.observed,
                baseline=p.baseline,
                state=p.state,
            )
            for p in event.other_sources
        ],
        controls=[
            ControlCheck(term=c.term, status=c.status, observed=c.observed, baseline=c.baseline)
            for c in event.controls
        ],
        people_involved=list(event.people_involved),
    )
