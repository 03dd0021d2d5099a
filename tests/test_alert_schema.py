"""The alert payload's schema (``monitor.alerts.schema``): strict validation, and the JSON
Schema committed as ``docs/alert-payload.schema.json`` that receivers can use.

The validator's older tests (unknown, missing and bad keys at the top level; naive
timestamps; the documented example) live with the webhook in ``test_channel_webhook.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from monitor.alerts.payload import Message, build_payload, encode
from monitor.alerts.schema import (
    EVENTS,
    REGENERATE,
    AlertPayload,
    CheckInfo,
    ControlCheck,
    EpisodeInfo,
    OtherSource,
    PeerTerm,
    json_schema,
    json_schema_text,
    validate_payload,
)

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = ROOT / "docs" / "alert-payload.schema.json"
NOW = datetime(2024, 5, 1, 12, 0, 7, 123456, tzinfo=UTC)
# Its baseline is an int where a number is due: the body must keep it as sent (402, not 402.0).
PEER = OtherSource(
    source="bing_images",
    family="bing",
    state="normal",
    terms=[
        PeerTerm(
            term="董经纬", status="ok", observed=380, baseline=402, state="normal", vantage=None
        )
    ],
)


def alert(**kw: Any) -> AlertPayload:
    fields: dict[str, Any] = {
        "event": "drop",
        "alert_id": 7,
        "checked_at": NOW,
        "person": "董经纬",
        "term": "董经纬",
        "source": "baidu_images",
        "observed": 12,
        "baseline": 400,
        "metric": "images",
        "classification": "corroborated",
        "reason": "12 images vs median 400",
        "episode": EpisodeInfo(id=3, started_at="2024-05-01T11:00:00Z", state="open"),
        "confirming_checks": [
            CheckInfo(checked_at="2024-05-01T12:00:07Z", status="ok", observed=12)
        ],
        "other_sources": [PEER],
        "controls": [ControlCheck(term="北京", status="ok", observed=510, baseline=520.5)],
    }
    fields.update(kw)
    return build_payload(**fields)


def problems_of(data: dict[str, Any]) -> str:
    with pytest.raises(ValueError, match="invalid alert payload") as err:
        validate_payload(data)
    return str(err.value)


# --- the committed JSON Schema ------------------------------------------------------------------


def test_committed_json_schema_is_what_the_validator_generates() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == json_schema_text(), (
        f"docs/alert-payload.schema.json is out of date; regenerate it with: {REGENERATE}"
    )


def _objects(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if node.get("type") == "object":
            yield node
        for value in node.values():
            yield from _objects(value)
    elif isinstance(node, list):
        for value in node:
            yield from _objects(value)


def test_every_object_in_the_schema_refuses_unknown_keys_and_requires_every_key() -> None:
    objects = list(_objects(json_schema()))
    assert len(objects) == 10  # the payload and its nine kinds of nested record
    for obj in objects:
        assert obj["additionalProperties"] is False, obj["title"]
        assert obj["required"] == list(obj["properties"]), obj["title"]


def test_schema_allows_exactly_the_event_names() -> None:
    assert set(json_schema()["properties"]["event"]["enum"]) == EVENTS


def test_committed_schema_accepts_the_payloads_we_build_and_the_documented_example() -> None:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    doc = (ROOT / "docs" / "webhooks.md").read_text(encoding="utf-8")
    example = json.loads(doc.split("```json\n", 1)[1].split("```", 1)[0])
    for payload in (json.loads(json.dumps(alert())), example):
        assert list(validator.iter_errors(payload)) == []


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("extra", 1),
        ("checked_at", "2024-05-01T12:00:00+00:00"),
        ("observed", "12"),
        ("event", "batch"),
    ],
    ids=["unknown-key", "offset-not-z", "int-as-string", "envelope-event"],
)
def test_committed_schema_refuses_what_the_validator_refuses(key: str, value: Any) -> None:
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text("utf-8")))
    bad = {**json.loads(json.dumps(alert())), key: value}
    assert list(validator.iter_errors(bad)) != []
    problems_of(bad)


# --- strict types ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("alert_id", "7"),
        ("alert_id", True),
        ("alert_id", 7.0),
        ("observed", "12"),
        ("baseline", "400"),
        ("baseline", True),
        ("reason", 1),
        ("person", 1),
        ("people_involved", ("a", "b")),
        ("schema_version", 1),
        ("metric", "pixels"),
        ("classification", "local"),
        ("episode", "open"),
    ],
    ids=lambda v: repr(v),
)
def test_validator_coerces_nothing(key: str, value: Any) -> None:
    assert f"bad {key}: " in problems_of({**alert(), key: value})


def test_validator_accepts_every_event_name() -> None:
    for event in sorted(EVENTS):
        assert alert(event=event)["event"] == event


@pytest.mark.parametrize(
    "stamp",
    [
        "2024-05-01T12:00:00+00:00",
        "2024-05-01T12:00:00",
        "2024-05-01 12:00:00Z",
        "2024-05-01T12:00Z",
        "2024-13-01T12:00:00Z",
        "２０２４-05-01T12:00:00Z",  # fullwidth digits: \d would let them through
        "",
    ],
)
def test_validator_takes_timestamps_only_as_iso_utc_ending_in_z(stamp: str) -> None:
    assert "bad checked_at: " in problems_of({**alert(), "checked_at": stamp})


def test_validator_accepts_fractions_of_a_second() -> None:
    assert validate_payload({**alert(), "checked_at": "2024-05-01T12:00:00.5Z"})


def test_validator_names_nested_unknown_missing_and_bad_keys() -> None:
    data: dict[str, Any] = json.loads(json.dumps(alert()))
    data["episode"] = {"id": "3", "started_at": "2024-05-01T11:00:00Z", "extra": 1}
    data["confirming_checks"][0]["observed"] = 1.5
    data["controls"][0]["term"] = None
    got = problems_of(data)
    for expected in (
        "missing episode.state",
        "unknown episode.extra",
        "bad episode.id: '3'",
        "bad confirming_checks[0].observed: 1.5",
        "bad controls[0].term: None",
    ):
        assert expected in got
    assert got.index("missing") < got.index("unknown") < got.index("bad")


# --- what goes on the wire ------------------------------------------------------------------------


def test_validator_returns_the_payload_itself_so_bodies_keep_their_bytes() -> None:
    payload = alert()
    assert validate_payload(payload) is payload


def test_webhook_body_bytes_are_unchanged() -> None:
    """The exact bytes a receiver gets (and that are signed), pinned."""
    body = encode(Message(delivery_id="d-1", alerts=[alert()], channel="webhook:a"))
    assert body.decode() == (
        '{"schema_version":2,"event":"drop","alert_id":7,"person":"董经纬","term":"董经纬",'
        '"source":"baidu_images","vantage":null,"observed":12,"baseline":400.0,'
        '"baseline_window_days":null,"ratio":0.03,"metric":"images",'
        '"classification":"corroborated",'
        '"episode":{"id":3,"started_at":"2024-05-01T11:00:00Z","state":"open"},'
        '"confirming_checks":[{"checked_at":"2024-05-01T12:00:07Z","status":"ok","observed":12}],'
        '"terms":[],"vanished_images":[],"other_sources":[{"source":"bing_images",'
        '"family":"bing","state":"normal","terms":[{"term":"董经纬","status":"ok",'
        '"observed":380,"baseline":402,"state":"normal","vantage":null}]}],'
        '"vantages":[],"vantage_scope":null,'
        '"controls":[{"term":"北京","status":"ok","observed":510,"baseline":520.5}],'
        '"people_involved":[],"reason":"12 images vs median 400",'
        '"checked_at":"2024-05-01T12:00:07Z"}'
    )
