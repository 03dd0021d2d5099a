"""Detector parts: settings and overrides, state serialisation, points, corroboration,
source health and staleness, and the event's fit to the alert payload schema."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from monitor.alerts.events import episode_info, payload_of
from monitor.alerts.schema import validate_payload
from monitor.core.observation import Status
from monitor.detector import (
    NO_PEERS,
    DetectionSettings,
    Engine,
    Event,
    PeerSummary,
    Point,
    RoundInput,
    SeriesKey,
    SeriesState,
    SourceHealth,
    StaticPeers,
    classify,
    process_round,
)

T0 = datetime(2024, 3, 1, tzinfo=UTC)
A = SeriesKey("秦刚", "秦刚", "baidu_images")
B = SeriesKey("秦刚", "秦刚", "sogou_images")


def at(i: int) -> datetime:
    return T0 + timedelta(hours=6 * i)


# --- settings ------------------------------------------------------------------------------


def test_settings_defaults_are_the_documented_ones() -> None:
    s = DetectionSettings()
    assert (s.min_history, s.drop_ratio, s.recover_ratio, s.confirm_checks) == (8, 0.3, 0.7, 2)
    assert s.short_window == timedelta(days=14)
    assert s.long_window == timedelta(days=56)
    assert s.recheck_after == timedelta(minutes=45)


def test_overrides_accept_config_durations_and_prefixed_keys() -> None:
    s = DetectionSettings().with_overrides({"short_window": "7d", "detection.drop_ratio": 0.25})
    assert s.short_window == timedelta(days=7)
    assert s.drop_ratio == 0.25


def test_unknown_override_is_an_error_naming_the_key() -> None:
    with pytest.raises(ValidationError, match="drop_ration"):
        DetectionSettings().with_overrides({"drop_ration": 0.2})


def test_assignments_from_the_command_line_are_converted() -> None:
    s = DetectionSettings().with_assignments(
        ["detection.drop_ratio=0.25", "confirm_checks=3", "domains_rule=false", "stale_after=2d"]
    )
    assert (s.drop_ratio, s.confirm_checks, s.domains_rule) == (0.25, 3, False)
    assert s.stale_after == timedelta(days=2)


def test_assignment_without_equals_sign_is_refused() -> None:
    with pytest.raises(ValueError, match="key=value"):
        DetectionSettings().with_assignments(["drop_ratio"])


def test_recover_ratio_must_sit_above_drop_ratio() -> None:
    with pytest.raises(ValidationError, match="hysteresis"):
        DetectionSettings(drop_ratio=0.5, recover_ratio=0.4)


def test_settings_are_frozen() -> None:
    with pytest.raises(ValidationError):
        DetectionSettings().drop_ratio = 0.1  # type: ignore[misc]


# --- points --------------------------------------------------------------------------------


def test_failed_check_cannot_carry_a_count() -> None:
    with pytest.raises(ValueError, match="no count"):
        Point(T0, Status.BLOCKED, 0)


def test_valid_check_needs_a_count_and_an_aware_time() -> None:
    with pytest.raises(ValueError, match="count"):
        Point(T0, Status.OK)
    with pytest.raises(ValueError, match="aware"):
        Point(datetime(2024, 1, 1), Status.OK, 3)


# --- state serialisation -------------------------------------------------------------------


def _feed(
    states: dict[SeriesKey, SeriesState], counts: Sequence[int | None], start: int
) -> list[Event]:
    s = DetectionSettings()
    events: list[Event] = []
    health = SourceHealth()
    for i, c in enumerate(counts, start):
        p = Point(at(i), Status.OK, c, 30) if c is not None else Point(at(i), Status.BLOCKED)
        out = process_round(
            "baidu_images", "chinese", [RoundInput(A, "watch", p)], states, health, s,
            peers=NO_PEERS, now=at(i),
        )  # fmt: skip
        states.update(out.states)
        events += out.events
    return events


def test_state_round_trips_through_json_and_continues_identically() -> None:
    history = [100 + (i * 7) % 13 for i in range(80)] + [0]
    future = [None, 0, 50, 50, 90, 90, 90]
    straight: dict[SeriesKey, SeriesState] = {}
    _feed(straight, history, 0)
    saved = json.loads(json.dumps(straight[A].to_dict()))
    restored = {A: SeriesState.from_dict(saved, DetectionSettings())}
    assert restored[A].to_dict() == straight[A].to_dict()
    expected = _feed(straight, future, len(history))
    assert [e.event for e in _feed(restored, future, len(history))] == [e.event for e in expected]
    assert [e.event for e in expected] == ["drop", "partial", "recovered"]


def test_state_of_another_version_is_fresh() -> None:
    state = SeriesState.from_dict({"version": 999, "window": "whatever"}, DetectionSettings())
    assert state.status == "insufficient_data"
    assert len(state.long) == 0


def test_state_memory_is_bounded_by_the_window() -> None:
    states: dict[SeriesKey, SeriesState] = {}
    _feed(states, [100 + (i % 5) for i in range(2000)], 0)  # 500 days at 4 checks a day
    assert len(states[A].long) == 56 * 4
    assert len(states[A].short) == 14 * 4


def test_source_health_round_trips() -> None:
    h = SourceHealth(failed_rounds=3, failing_since=1.5e9, unhealthy=True, incident_open=True)
    assert SourceHealth.from_dict(json.loads(json.dumps(h.to_dict()))) == h


# --- corroboration -------------------------------------------------------------------------


def peer(source: str, family: str, state: str) -> PeerSummary:
    return PeerSummary(source, family, "t", "", "ok", 1, 100.0, state)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("source", "family", "peers", "expected"),
    [
        pytest.param("baidu", "chinese", [], "single_source", id="alone"),
        pytest.param(
            "baidu", "chinese", [peer("sogou", "chinese", "normal")], "single_source",
            id="other-chinese-engine-normal",
        ),
        pytest.param(
            "baidu", "chinese", [peer("sogou", "chinese", "dropped")], "corroborated",
            id="two-chinese-engines",
        ),
        pytest.param(
            "baidu", "chinese", [peer("sogou", "chinese", "pending")], "corroborated",
            id="second-engine-still-confirming",
        ),
        pytest.param(
            "bing", "bing", [peer("ddg", "bing", "dropped")], "single_source",
            id="bing-and-its-licensee-are-one-observation",
        ),
        pytest.param(
            "baidu", "chinese",
            [peer("sogou", "chinese", "dropped"), peer("commons", "independent", "dropped")],
            "global", id="independent-source-dropped-too",
        ),
    ],
)  # fmt: skip
def test_classification(source: str, family: str, peers: list[PeerSummary], expected: str) -> None:
    assert classify(source, family, peers) == expected


def test_drop_event_lists_other_sources_grouped_by_family() -> None:
    peers = StaticPeers(
        {
            "秦刚": [
                peer("wikimedia_commons", "independent", "normal"),
                peer("bing_images", "bing", "normal"),
                peer("sogou_images", "chinese", "dropped"),
                peer("baidu_images", "chinese", "normal"),  # the event's own source: left out
            ]
        }
    )
    states: dict[SeriesKey, SeriesState] = {}
    s = DetectionSettings()
    events: list[Event] = []
    for i, c in enumerate([100 + i % 9 for i in range(40)] + [0, 0]):
        out = process_round(
            "baidu_images", "chinese", [RoundInput(A, "watch", Point(at(i), Status.OK, c))],
            states, SourceHealth(), s, peers=peers, now=at(i),
        )  # fmt: skip
        states.update(out.states)
        events += out.events
    (drop,) = events
    assert [p.source for p in drop.other_sources] == [
        "sogou_images",
        "bing_images",
        "wikimedia_commons",
    ]
    assert drop.classification == "corroborated"


# --- health and staleness ------------------------------------------------------------------


def _engine_run(records: Sequence[tuple[SeriesKey, Status, int | None]]) -> list[Event]:
    engine = Engine()
    out: list[Event] = []
    for i, (key, status, count) in enumerate(records):
        t = at(i // 2) + timedelta(seconds=5 * (i % 2))
        out += engine.feed(key, "watch", Point(t, status, count))
    return out + engine.finish()


def test_lone_failing_series_is_stale_once_not_per_check() -> None:
    ok, bad = A._replace(person="a"), A._replace(person="b")
    records: list[tuple[SeriesKey, Status, int | None]] = []
    for i in range(60):
        records.append((ok, Status.OK, 100))
        failed = i >= 20 and i < 50
        records.append((bad, Status.PARSE_ERROR, None) if failed else (bad, Status.OK, 80))
    events = _engine_run(records)
    stale = [e for e in events if e.event == "stale"]
    assert len(stale) == 1
    assert stale[0].person == "b"
    assert stale[0].t - at(19) > timedelta(days=3)
    assert not [e for e in events if e.event.startswith("source_")]


def test_source_failing_n_rounds_is_unhealthy_once_then_recovers() -> None:
    a, b = A._replace(person="a"), A._replace(person="b")
    records: list[tuple[SeriesKey, Status, int | None]] = []
    for i in range(40):
        failed = 10 <= i < 30
        for key in (a, b):
            records.append((key, Status.BLOCKED, None) if failed else (key, Status.OK, 100))
    events = _engine_run(records)
    assert [e.event for e in events] == ["source_unhealthy", "source_recovered"]
    assert events[0].t == at(13) + timedelta(seconds=5)  # the 4th failed round
    assert "blocked x2" in events[0].reason


# --- contract with the alert payload -------------------------------------------------------


def test_event_fields_build_a_valid_alert_payload() -> None:
    states: dict[SeriesKey, SeriesState] = {}
    events = _feed(states, [100 + i % 9 for i in range(40)] + [0, 0], 0)
    payload = payload_of(
        events[0], alert_id=1, episode=episode_info(events[0], episode_id=1), vanished=[]
    )
    assert validate_payload(json.loads(json.dumps(payload))) == payload
    assert payload["event"] == "drop" and payload["observed"] == 0
    assert payload["episode"] is not None and payload["episode"]["id"] == 1
    assert payload["confirming_checks"] and payload["reason"]
