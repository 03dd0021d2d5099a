"""The one mapping from detector events to the alert payload.

Pure: what only the store knows (the alert id, the episode rows, the vanished images) comes
in as arguments. The daemon's rounds, the ``check`` command and the backtest all build their
payloads here, so an alert reads the same whichever path produced it. A person alert covers
a group of events (``monitor.alerts.people.group_events``): the headline term's figures lead
(``observed``, ``baseline``, ``ratio``, ``confirming_checks``, ``episode``), every term's
figures are in ``terms``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from monitor.alerts.payload import build_payload
from monitor.alerts.people import (
    PERSON_EVENTS,
    Group,
    Standing,
    checks_of,
    merge_vanished,
    other_sources,
    term_figures,
)
from monitor.alerts.schema import AlertPayload, ControlCheck, EpisodeInfo, VanishedImage
from monitor.alerts.vantages import VantageReading, other_vantages, vantage_scope
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
    group: Group | Event,
    *,
    alert_id: int,
    episode: EpisodeInfo | None,
    vanished: Mapping[str, Sequence[VanishedImage]] | Sequence[VanishedImage] = (),
    episodes: Mapping[str, int | None] | None = None,
    quiet: Iterable[Standing] = (),
    vantages: Iterable[VantageReading] = (),
) -> AlertPayload:
    """The payload of one alert: a group of one person's events (headline first) or a
    single event. ``vanished`` per term (merged here) or already one list; ``episodes`` the
    episode id per term; ``quiet`` the person's other terms on the source, unchanged, as
    they stand (``monitor.alerts.people.quiet_terms``); ``vantages`` the person's series on
    the source from the other vantages (``monitor.alerts.vantages``), for the alert's terms."""
    events: Group = group if isinstance(group, tuple) else (group,)
    head = events[0]
    images = merge_vanished(vanished) if isinstance(vanished, Mapping) else list(vanished)
    person_event = head.person is not None and head.event in PERSON_EVENTS
    per_term = term_figures(events, episodes or {}, quiet) if person_event else []
    seen_from = other_vantages(vantages, [t["term"] for t in per_term]) if person_event else []
    return build_payload(
        event=head.event,
        alert_id=alert_id,
        checked_at=max(e.t for e in events),
        reason=head.reason,
        person=head.person,
        term=head.term,
        source=head.source,
        vantage=head.vantage,
        observed=head.observed,
        baseline=head.baseline,
        baseline_window_days=head.baseline_window_days,
        ratio=head.ratio,
        metric=head.metric,
        classification=head.classification,
        episode=episode,
        confirming_checks=checks_of(head),
        terms=per_term,
        vanished_images=images,
        other_sources=other_sources(events),
        vantages=seen_from,
        vantage_scope=vantage_scope(head.event, seen_from),
        controls=[
            ControlCheck(term=c.term, status=c.status, observed=c.observed, baseline=c.baseline)
            for c in head.controls
        ],
        people_involved=list(head.people_involved),
    )
