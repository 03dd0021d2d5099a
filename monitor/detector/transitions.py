"""Turn a confirmed series transition into the ``Event`` an alert is built from."""

from __future__ import annotations

from monitor.detector import reasons
from monitor.detector.corroboration import PeerView, classify, sort_peers
from monitor.detector.events import Confirmation, ControlReading, Event, from_ts
from monitor.detector.points import SeriesKey
from monitor.detector.series import Change
from monitor.detector.settings import DetectionSettings


def person_event(
    change: Change,
    key: SeriesKey,
    family: str,
    peers: PeerView,
    controls: tuple[ControlReading, ...],
    s: DetectionSettings,
    *,
    others_dropping: int,
    others_checked: int,
) -> Event:
    """The ``drop``/``partial``/``recovered`` event for ``change`` on series ``key``.

    Every person event carries the other sources (context for a recovery too); only a drop
    is classified.
    """
    confirming = tuple(
        Confirmation(from_ts(c.ts), c.status, c.images, c.domains, c.snapshot_id)
        for c in change.confirming
    )
    last = change.confirming[-1]
    observed = last.value(change.metric)
    observed = 0 if observed is None else observed
    other = sort_peers(peers.peers_of(key.person, key.source))
    return Event(
        event=change.kind,
        source=key.source,
        family=family,
        t=from_ts(last.ts),
        reason=reasons.person_reason(
            change,
            observed,
            controls,
            s,
            others_dropping=others_dropping,
            others_checked=others_checked,
        ),
        person=key.person,
        term=key.term,
        vantage=key.vantage,
        metric=change.metric,
        observed=observed,
        baseline=change.baseline,
        baseline_window_days=change.baseline_days,
        ratio=round(observed / change.baseline, 4) if change.baseline else None,
        classification=classify(key.source, family, other) if change.kind == "drop" else None,
        episode_start=from_ts(change.started),
        episode_state=change.state,
        confirming=confirming,
        other_sources=other,
        controls=controls,
    )
