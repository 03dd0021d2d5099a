"""The alert payload: one documented, versioned schema shared by every channel.

An ``AlertPayload`` is what the outbox stores for an alert and what a webhook receives. Every
key is always present (``None`` or ``[]`` when it does not apply), so receivers never need
``.get``. Timestamps are ISO 8601 UTC strings ending in ``Z``. The schema is documented in
``docs/webhooks.md``; a change that removes or retypes a field bumps ``SCHEMA_VERSION``,
adding a field does not (receivers ignore keys they do not know).

A ``Message`` is what one channel delivers in one go: one alert, or several drops found in
the same round on the same source (grouped so that a purge is one mail, not twenty). Its
``delivery_id`` is stable across retries: the dispatcher reuses it when it resends, so a
receiver can drop the one duplicate no system can rule out (a crash after the message left
but before its success was recorded).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypedDict, get_args

from monitor.core.observation import ImageItem

SCHEMA_VERSION = 1

Event = Literal[
    "drop",
    "partial",
    "recovered",
    "source_incident",
    "source_unhealthy",
    "source_recovered",
    "stale",
    "test",
]
Metric = Literal["images", "domains"]
Classification = Literal["single_source", "corroborated", "global"]
EVENTS: frozenset[str] = frozenset(get_args(Event))
BATCH_EVENT = "batch"


class EpisodeInfo(TypedDict):
    """The drop episode an alert belongs to; ``state`` is ``open``, ``partial`` or ``resolved``."""

    id: int
    started_at: str
    state: str


class VanishedImage(TypedDict):
    """An image seen in the baseline window and missing now, with where it still shows."""

    image_url: str
    thumb_url: str | None
    page_url: str | None
    title: str | None
    domain: str | None
    first_seen: str
    last_seen: str
    still_seen_on: list[str]


class OtherSource(TypedDict):
    """The same person's series on another source, for corroboration."""

    source: str
    family: str
    status: str | None  # status of its latest check (monitor.core.observation.Status values)
    observed: int | None
    baseline: float | None
    state: str  # the detector's state of that series, e.g. "normal", "dropped"


class ControlCheck(TypedDict):
    """A control query (a term that should never vanish) on the alert's source."""

    term: str
    status: str | None
    observed: int | None
    baseline: float | None


class CheckInfo(TypedDict):
    """One check of the alert's series, e.g. one of the K checks that confirmed a drop."""

    checked_at: str
    status: str
    observed: int | None


class AlertPayload(TypedDict):
    """One alert, exactly as a webhook receives it (see docs/webhooks.md)."""

    schema_version: int
    event: Event
    alert_id: int
    person: str | None
    term: str | None
    source: str | None
    vantage: str | None
    observed: int | None
    baseline: float | None
    baseline_window_days: int | None
    ratio: float | None
    metric: Metric | None
    classification: Classification | None
    episode: EpisodeInfo | None
    confirming_checks: list[CheckInfo]
    vanished_images: list[VanishedImage]
    other_sources: list[OtherSource]
    controls: list[ControlCheck]
    people_involved: list[str]
    reason: str
    checked_at: str


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


def iso_utc(moment: datetime) -> str:
    """``moment`` as ``2024-05-01T12:00:00Z`` (seconds precision); refuses naive datetimes."""
    if moment.tzinfo is None:
        raise ValueError("timestamps in payloads must be aware datetimes")
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    """The aware datetime of a payload timestamp."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def vanished_image(
    item: ImageItem, first_seen: datetime, last_seen: datetime, still_seen_on: Iterable[str] = ()
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
    )


def build_payload(
    *,
    event: Event,
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
    vanished_images: Iterable[VanishedImage] = (),
    other_sources: Iterable[OtherSource] = (),
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
        vanished_images=list(vanished_images),
        other_sources=list(other_sources),
        controls=list(controls),
        people_involved=list(people_involved),
        reason=reason,
        checked_at=iso_utc(checked_at),
    )
    return validate_payload(payload)


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


# --- validation: a small table per record type, so the schema reads as data ----------------

_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
Check = Callable[[Any], bool]


def _opt(check: Check) -> Check:
    return lambda v: v is None or check(v)


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _num(v: Any) -> bool:
    return _int(v) or isinstance(v, float)


def _str(v: Any) -> bool:
    return isinstance(v, str)


def _ts(v: Any) -> bool:
    return isinstance(v, str) and bool(_TIMESTAMP.match(v))


def _one_of(*values: str) -> Check:
    return lambda v: v in values


def _list_of(check: Check) -> Check:
    return lambda v: isinstance(v, list) and all(check(x) for x in v)


def _record(spec: Mapping[str, Check]) -> Check:
    return lambda v: (
        isinstance(v, dict) and set(v) == set(spec) and all(spec[k](v[k]) for k in spec)
    )


_EPISODE = _record({"id": _int, "started_at": _ts, "state": _str})
_IMAGE = _record(
    {
        "image_url": _str,
        "thumb_url": _opt(_str),
        "page_url": _opt(_str),
        "title": _opt(_str),
        "domain": _opt(_str),
        "first_seen": _ts,
        "last_seen": _ts,
        "still_seen_on": _list_of(_str),
    }
)
_OTHER = _record(
    {
        "source": _str,
        "family": _str,
        "status": _opt(_str),
        "observed": _opt(_int),
        "baseline": _opt(_num),
        "state": _str,
    }
)
_CONTROL = _record(
    {"term": _str, "status": _opt(_str), "observed": _opt(_int), "baseline": _opt(_num)}
)
_CHECK = _record({"checked_at": _ts, "status": _str, "observed": _opt(_int)})
_PAYLOAD: dict[str, Check] = {
    "schema_version": lambda v: v == SCHEMA_VERSION,
    "event": lambda v: v in EVENTS,
    "alert_id": _int,
    "person": _opt(_str),
    "term": _opt(_str),
    "source": _opt(_str),
    "vantage": _opt(_str),
    "observed": _opt(_int),
    "baseline": _opt(_num),
    "baseline_window_days": _opt(_int),
    "ratio": _opt(_num),
    "metric": _opt(_one_of(*get_args(Metric))),
    "classification": _opt(_one_of(*get_args(Classification))),
    "episode": _opt(_EPISODE),
    "confirming_checks": _list_of(_CHECK),
    "vanished_images": _list_of(_IMAGE),
    "other_sources": _list_of(_OTHER),
    "controls": _list_of(_CONTROL),
    "people_involved": _list_of(_str),
    "reason": _str,
    "checked_at": _ts,
}


def validate_payload(data: Mapping[str, Any]) -> AlertPayload:
    """Return ``data`` as an ``AlertPayload`` or raise ``ValueError`` naming every bad key.

    Strict on what we produce: missing and unknown keys are errors too (receivers, in
    contrast, are told to ignore unknown keys).
    """
    problems = [f"missing {k}" for k in _PAYLOAD if k not in data]
    problems += [f"unknown {k}" for k in data if k not in _PAYLOAD]
    problems += [
        f"bad {k}: {data[k]!r:.80}" for k in _PAYLOAD if k in data and not _PAYLOAD[k](data[k])
    ]
    if problems:
        raise ValueError("invalid alert payload: " + "; ".join(problems))
    return data  # type: ignore[return-value]  # checked field by field above
