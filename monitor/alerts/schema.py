"""The alert payload's schema: one documented, versioned contract shared by every channel.

An ``AlertPayload`` is what the outbox stores for an alert and what a webhook receives. Every
key is always present (``None`` or ``[]`` when it does not apply), so receivers never need
``.get``. Timestamps are ISO 8601 UTC strings ending in ``Z``. The schema is documented in
``docs/webhooks.md``; a change that removes or retypes a field bumps ``SCHEMA_VERSION``,
adding a field does not (receivers ignore keys they do not know).

The TypedDicts below are both the static types the code builds payloads with and, through
pydantic, the validator (``validate_payload``) and the JSON Schema
(``docs/alert-payload.schema.json``, written by ``python -m monitor.alerts.schema``). One
definition, so the three cannot drift apart. Validation is strict on what we produce: no
unknown or missing key in any object, no coercion (``"12"`` is not an int, ``True`` is not
a number), timestamps only in the ``Z`` form.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any, Final, Literal, cast, get_args

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    with_config,
)

# pydantic reads TypedDicts from typing_extensions only, on Python < 3.12.
from typing_extensions import TypedDict

from monitor.core.clock import parse_iso
from monitor.detector.events import Classification, EventKind
from monitor.detector.state import Metric

SchemaVersion = Literal[2]
# 2: one alert per person (its terms in ``terms``), other sources grouped per source with
# per-term figures, vanished images merged across terms (docs/webhooks.md, "Changes");
# later within 2 (added, so no bump): terms[].checked_at and terms[].this_round; vantages,
# vantage_scope and other_sources[].terms[].vantage.
SCHEMA_VERSION: Final[SchemaVersion] = 2  # bump both together (see the module docstring)

# Every event the detector reports, and the test alert of `absence-monitor alerts test`.
EventName = Literal[EventKind, "test"]
EVENTS: frozenset[str] = frozenset(get_args(EventName))
# The events of a person's term: what a person alert groups (``monitor.alerts.people``).
TermEvent = Literal["drop", "partial", "recovered"]

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
REGENERATE = "python -m monitor.alerts.schema > docs/alert-payload.schema.json"


def _a_real_moment(text: str) -> str:
    parse_iso(text)  # the pattern admits 2024-13-45T99:00:00Z; the calendar does not
    return text


Timestamp = Annotated[
    str,
    StringConstraints(
        # [0-9], not \d: \d also matches other scripts' digits.
        pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$"
    ),
    AfterValidator(_a_real_moment),
    Field(description="ISO 8601 in UTC ending in Z, e.g. 2024-05-01T12:00:00Z"),
]
"""A moment as ``monitor.core.clock.iso_utc`` writes it."""

# Every object refuses unknown keys and coercion; see the module docstring.
_STRICT = ConfigDict(extra="forbid", strict=True)


@with_config(_STRICT)
class EpisodeInfo(TypedDict):
    """The drop episode an alert belongs to; ``state`` is ``open``, ``partial`` or ``resolved``."""

    id: int
    started_at: Timestamp
    state: str


@with_config(_STRICT)
class VanishedImage(TypedDict):
    """An image seen in the baseline window and missing now, with where it still shows."""

    image_url: str
    thumb_url: str | None
    page_url: str | None
    title: str | None
    domain: str | None
    first_seen: Timestamp
    last_seen: Timestamp
    still_seen_on: list[str]
    terms: list[str]  # the person's terms whose results lost it
    archived_page: str | None  # the Internet Archive's confirmed copy of page_url, if any


@with_config(_STRICT)
class PeerTerm(TypedDict):
    """One of the person's terms on another source: its latest check and state."""

    term: str
    status: str | None  # status of its latest check (monitor.core.observation.Status values)
    observed: int | None
    baseline: float | None
    state: str  # the detector's state of that series, e.g. "normal", "dropped"
    vantage: str | None  # where that series is checked from (None: stored before it was named)


@with_config(_STRICT)
class OtherSource(TypedDict):
    """The same person on another source, for corroboration: one entry per source."""

    source: str
    family: str
    state: str  # the worst state among its terms (dropped > partial > pending > normal ...)
    terms: list[PeerTerm]


# Does the drop show from every vantage point that checks the source, or only from some?
VantageScope = Literal["vantage_specific", "all_vantages"]


@with_config(_STRICT)
class VantageTerm(TypedDict):
    """One of the person's terms on the alert's source, seen from another vantage: its
    latest check at the alert's time and the detector's state of that series."""

    term: str
    status: str | None  # of its latest check; None: never checked from there
    observed: int | None  # that check's count (None when it failed)
    baseline: float | None
    state: str  # the detector's state, e.g. "normal", "dropped"
    checked_at: Timestamp | None
    snapshot_id: int | None


@with_config(_STRICT)
class OtherVantage(TypedDict):
    """The alert's source seen from another vantage point (another network or egress).

    ``sees_drop`` is true when one of the person's terms is dropping there too, false when
    its terms are there and none is, ``None`` when nothing valid and recent tells.
    """

    vantage: str
    state: str  # the most troubled of its terms' states
    sees_drop: bool | None
    terms: list[VantageTerm]


@with_config(_STRICT)
class ControlCheck(TypedDict):
    """A control query (a term that should never vanish) on the alert's source."""

    term: str
    status: str | None
    observed: int | None
    baseline: float | None


@with_config(_STRICT)
class CheckInfo(TypedDict):
    """One check of the alert's series, e.g. one of the K checks that confirmed a drop."""

    checked_at: Timestamp
    status: str
    observed: int | None


@with_config(_STRICT)
class TermFigures(TypedDict):
    """One of the person's terms (names, aliases) on the alert's source: every term, also
    those the alert's round did not check (a re-check round checks only some).

    ``event`` is the term's own transition (``drop``, ``partial``, ``recovered``) or ``None``
    when it did not change; ``ratio`` is observed / baseline (the change). ``checked_at`` is
    the time of the check the figures come from; ``this_round`` is false when that check was
    before the alert's round (the figures are the term's latest, not fresh). A ``recovered``
    term without ``confirming_checks`` recovered in an earlier round, while another term kept
    the person's episode open (``reason`` says when).
    """

    term: str
    event: TermEvent | None
    state: str
    status: str | None
    observed: int | None
    baseline: float | None
    ratio: float | None
    reason: str
    episode_id: int | None
    confirming_checks: list[CheckInfo]
    checked_at: Timestamp | None
    this_round: bool


@with_config(_STRICT)
class AlertPayload(TypedDict):
    """One alert, exactly as a webhook receives it (see docs/webhooks.md)."""

    schema_version: SchemaVersion
    event: EventName
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
    terms: list[TermFigures]
    vanished_images: list[VanishedImage]
    other_sources: list[OtherSource]
    vantages: list[OtherVantage]
    vantage_scope: VantageScope | None
    controls: list[ControlCheck]
    people_involved: list[str]
    reason: str
    checked_at: Timestamp


_ADAPTER: TypeAdapter[AlertPayload] = TypeAdapter(AlertPayload)


def _where(loc: tuple[int | str, ...]) -> str:
    """``("episode", "id")`` -> ``episode.id``, ``("controls", 0)`` -> ``controls[0]``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else part
    return out


def _problem(error: Mapping[str, Any]) -> tuple[int, str]:
    """(reading order, text) of one pydantic error, in the words the validator always used."""
    where = _where(error["loc"])
    if error["type"] == "missing":
        return 0, f"missing {where}"
    if error["type"] == "extra_forbidden":
        return 1, f"unknown {where}"
    return 2, f"bad {where}: {error['input']!r:.80}"


def validate_payload(data: Mapping[str, Any]) -> AlertPayload:
    """Return ``data`` as an ``AlertPayload`` or raise ``ValueError`` naming every bad key.

    Strict on what we produce: missing and unknown keys are errors too (receivers, in
    contrast, are told to ignore unknown keys). ``data`` itself is returned, not pydantic's
    copy, so that a body encoded from it is byte for byte what it was (pydantic would turn
    a ``baseline`` of ``400`` into ``400.0``).
    """
    try:
        _ADAPTER.validate_python(dict(data))
    except ValidationError as err:
        # Missing keys first, then unknown ones, then bad values, each in pydantic's order.
        problems = sorted((_problem(e) for e in err.errors(include_url=False)), key=lambda p: p[0])
        raise ValueError(
            "invalid alert payload: " + "; ".join(text for _, text in problems)
        ) from err
    return cast(AlertPayload, data)  # validated just above


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one alert payload."""
    return {"$schema": JSON_SCHEMA_DIALECT, **_ADAPTER.json_schema()}


def json_schema_text() -> str:
    """``json_schema()`` as the committed ``docs/alert-payload.schema.json`` holds it."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    print(json_schema_text(), end="")
