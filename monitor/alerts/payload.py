"""Building alert payloads, and the messages that carry them to a channel.

``build_payload`` is the one constructor of an ``AlertPayload`` (the schema and its
validator are ``monitor.alerts.schema``): it fills every key and validates the result, so
nothing invalid reaches the outbox. ``webhook_body`` and ``encode`` are the wire form.

A ``Message`` is what one channel delivers in one go: one alert, or several people's drops
found in the same round on the same source (grouped so that a purge is one mail, not twenty). Its
``delivery_id`` is stable across retries: the dispatcher reuses it when it resends, so a
receiver can drop the one duplicate no system can rule out (a crash after the message left
but before its success was recorded).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from monitor.alerts.schema import (
    SCHEMA_VERSION,
    AlertPayload,
    CheckInfo,
    ControlCheck,
    EpisodeInfo,
    EventName,
    OtherSource,
    OtherVantage,
    PeerTerm,
    TermFigures,
    VanishedImage,
    VantageScope,
    validate_payload,
)
from monitor.core.clock import iso_utc
from monitor.core.observation import ImageItem
from monitor.detector.events import Classification
from monitor.detector.state import Metric

BATCH_EVENT = "batch"


@dataclass(frozen=True, slots=True)
class Message:
    """What one channel delivers at once: one alert, or a group of drops on one source."""

    delivery_id: str
    alerts: list[AlertPayload]
    channel: str

    def __post_init__(self) -> None:
        if not self.alerts:
            raise ValueError("a message carries at least one alert")
        if not self.delivery_id:
            raise ValueError("a message needs a delivery id")

    @property
    def is_batch(self) -> bool:
        """True when the message groups several alerts."""
        return len(self.alerts) > 1

    @property
    def event(self) -> str:
        """The ``X-Absence-Event`` value: the alert's event, or ``batch`` for a group."""
        return BATCH_EVENT if self.is_batch else self.alerts[0]["event"]


def vanished_image(
    item: ImageItem,
    first_seen: datetime,
    last_seen: datetime,
    still_seen_on: Iterable[str] = (),
    terms: Iterable[str] = (),
    archived_page: str | None = None,
) -> VanishedImage:
    """A ``vanished_images`` entry for a result item that is no longer returned."""
    item = item.with_domain()
    return VanishedImage(
        image_url=item.image_url,
        thumb_url=item.thumb_url,
        page_url=item.page_url,
        title=item.title,
        domain=item.domain,
        first_seen=iso_utc(first_seen),
        last_seen=iso_utc(last_seen),
        still_seen_on=sorted(set(still_seen_on)),
        terms=list(dict.fromkeys(terms)),
        archived_page=archived_page,
    )


def build_payload(
    *,
    event: EventName,
    alert_id: int,
    checked_at: datetime,
    reason: str = "",
    person: str | None = None,
    term: str | None = None,
    source: str | None = None,
    vantage: str | None = None,
    observed: int | None = None,
    baseline: float | None = None,
    baseline_window_days: int | None = None,
    ratio: float | None = None,
    metric: Metric | None = None,
    classification: Classification | None = None,
    episode: EpisodeInfo | None = None,
    confirming_checks: Iterable[CheckInfo] = (),
    terms: Iterable[TermFigures] = (),
    vanished_images: Iterable[VanishedImage] = (),
    other_sources: Iterable[OtherSource] = (),
    vantages: Iterable[OtherVantage] = (),
    vantage_scope: VantageScope | None = None,
    controls: Iterable[ControlCheck] = (),
    people_involved: Iterable[str] = (),
) -> AlertPayload:
    """A complete, validated payload; ``ratio`` is computed from observed/baseline if omitted."""
    if ratio is None and observed is not None and baseline:
        ratio = round(observed / baseline, 4)
    payload = AlertPayload(
        schema_version=SCHEMA_VERSION,
        event=event,
        alert_id=alert_id,
        person=person,
        term=term,
        source=source,
        vantage=vantage,
        observed=observed,
        baseline=None if baseline is None else float(baseline),
        baseline_window_days=baseline_window_days,
        ratio=ratio,
        metric=metric,
        classification=classification,
        episode=episode,
        confirming_checks=list(confirming_checks),
        terms=list(terms),
        vanished_images=list(vanished_images),
        other_sources=list(other_sources),
        vantages=list(vantages),
        vantage_scope=vantage_scope,
        controls=list(controls),
        people_involved=list(people_involved),
        reason=reason,
        checked_at=iso_utc(checked_at),
    )
    return validate_payload(payload)


_STATE_OF = {"drop": "dropped", "partial": "partial", "recovered": "normal"}


def upgrade(stored: Mapping[str, Any]) -> AlertPayload:
    """A stored payload in the current schema: version 1 (one alert per term, written before
    an upgrade and maybe still in the outbox) gains ``terms`` from its own figures, its
    vanished images their term, and its other sources are grouped per source (version 1 did
    not name their terms: the person's name stands in). A version 2 payload stored before
    ``terms[].checked_at`` and ``this_round`` existed gains them: its terms were all checked in
    its round; one stored before ``vanished_images[].archived_page`` existed gains ``None``;
    one stored before vantages were compared gains no ``vantages``, no ``vantage_scope`` and
    ``None`` as its other sources' vantage (not recorded then). Current payloads pass
    unchanged."""
    if stored.get("schema_version") != 1:
        return _dated_terms(stored)
    old = dict(stored)
    term = old.get("term")
    event = old.get("event")
    checks = list(old.get("confirming_checks") or [])
    terms: list[TermFigures] = []
    if old.get("person") and term and event in _STATE_OF:
        episode = old.get("episode") or {}
        terms.append(
            TermFigures(
                term=term,
                event=event,
                state=_STATE_OF[event],
                status=checks[-1]["status"] if checks else None,
                observed=old.get("observed"),
                baseline=old.get("baseline"),
                ratio=old.get("ratio"),
                reason=old.get("reason") or "",
                episode_id=episode.get("id"),
                confirming_checks=checks,
                checked_at=old.get("checked_at"),
                this_round=True,
            )
        )
    by_source: dict[str, OtherSource] = {}
    for o in old.get("other_sources") or []:
        entry = by_source.setdefault(
            o["source"],
            OtherSource(source=o["source"], family=o["family"], state=o["state"], terms=[]),
        )
        entry["terms"].append(
            PeerTerm(
                term=old.get("person") or term or "",
                status=o.get("status"),
                observed=o.get("observed"),
                baseline=o.get("baseline"),
                state=o["state"],
                vantage=None,
            )
        )
    return _dated_terms(
        {
            **old,
            "schema_version": SCHEMA_VERSION,
            "terms": terms,
            "vanished_images": [
                {"archived_page": None, **v, "terms": [term] if term else []}
                for v in old.get("vanished_images") or []
            ],
            "other_sources": list(by_source.values()),
        },
    )


def _dated_terms(stored: Mapping[str, Any]) -> AlertPayload:
    terms = stored.get("terms") or []
    images = stored.get("vanished_images") or []
    if (
        all("this_round" in t for t in terms)
        and all("archived_page" in i for i in images)
        and "vantages" in stored
    ):
        return cast(AlertPayload, stored)
    dated = [{"checked_at": stored.get("checked_at"), "this_round": True, **t} for t in terms]
    linked = [{"archived_page": None, **i} for i in images]
    others = [
        {**o, "terms": [{"vantage": None, **t} for t in o.get("terms") or []]}
        for o in stored.get("other_sources") or []
    ]
    return cast(
        AlertPayload,
        {
            "vantages": [],
            "vantage_scope": None,
            **stored,
            "terms": dated,
            "vanished_images": linked,
            "other_sources": others,
        },
    )


def webhook_body(message: Message) -> dict[str, Any]:
    """The JSON document a webhook receives: the flat payload, or a ``batch`` envelope."""
    if not message.is_batch:
        return dict(message.alerts[0])
    return {
        "schema_version": SCHEMA_VERSION,
        "event": BATCH_EVENT,
        "delivery_id": message.delivery_id,
        "alerts": [dict(a) for a in message.alerts],
    }


def encode(message: Message) -> bytes:
    """The exact bytes sent (and signed): compact UTF-8 JSON, non-ASCII kept readable."""
    return json.dumps(webhook_body(message), ensure_ascii=False, separators=(",", ":")).encode()
