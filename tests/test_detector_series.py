"""Table tests of the per-series rules: history, current checks, expected events and state.

Each case feeds one series through ``process_round`` (one check per round, 6 h apart, no
controls, no peers), exactly as the pipeline calls it. History is a steady series with a
small deterministic wobble so medians and MADs are realistic; checks are written as
``120`` (ok, 120 images), ``"nr"`` (positive no_results), ``"x"`` (blocked) or
``(80, 3)`` (ok, 80 images from 3 distinct domains).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from monitor.core.observation import Status
from monitor.detector import (
    NO_PEERS,
    DetectionSettings,
    Event,
    Point,
    RoundInput,
    SeriesKey,
    SeriesState,
    SourceHealth,
    process_round,
)

T0 = datetime(2024, 3, 1, tzinfo=UTC)
KEY = SeriesKey("董经纬", "董经纬", "baidu_images")
WOBBLE = (1.00, 1.06, 0.95, 1.03, 0.97, 1.08, 0.93, 1.01, 0.99, 1.04, 0.96, 1.02)

Check = int | str | tuple[int, int]


def steady(level: float, n: int, domains: int | None = None) -> list[Check]:
    """``n`` checks around ``level`` (±8%), optionally with domains around ``domains``."""
    out: list[Check] = []
    for i in range(n):
        w = WOBBLE[i % len(WOBBLE)]
        c = round(level * w)
        out.append((c, round(domains * w)) if domains is not None else c)
    return out


def volatile(n: int) -> list[Check]:
    """A naturally volatile series: counts spread log-uniformly over 20..500."""
    spread = (20, 45, 110, 300, 60, 500, 35, 150, 80, 250, 25, 400, 70, 180)
    return [spread[i % len(spread)] for i in range(n)]


def point(t: datetime, spec: Check) -> Point:
    if spec == "nr":
        return Point(t, Status.NO_RESULTS, 0, 0)
    if spec == "x":
        return Point(t, Status.BLOCKED)
    if isinstance(spec, tuple):
        return Point(t, Status.OK, spec[0], spec[1])
    assert isinstance(spec, int)
    return Point(t, Status.OK, spec, None)


@dataclass
class Run:
    events: list[Event] = field(default_factory=list)
    state: SeriesState | None = None
    rechecks: int = 0


def run(checks: list[Check], settings: DetectionSettings | None = None) -> Run:
    settings = settings or DetectionSettings()
    states: dict[SeriesKey, SeriesState] = {}
    health = SourceHealth()
    out = Run()
    for i, spec in enumerate(checks):
        t = T0 + timedelta(hours=6 * i)
        result = process_round(
            "baidu_images",
            "chinese",
            [RoundInput(KEY, "watch", point(t, spec))],
            states,
            health,
            settings,
            peers=NO_PEERS,
            now=t,
        )
        states.update(result.states)
        health = result.health
        out.events.extend(result.events)
        out.rechecks += len(result.rechecks)
    out.state = states[KEY]
    return out


S = DetectionSettings()
H = steady(100, 40)  # ten days of a steady series around 100 images
HD = steady(100, 40, 40)  # the same with about 40 distinct domains
P = [0, 0, 50, 50]  # gone, then half back: a confirmed drop, then a confirmed partial
DECLINE = [round(100 * 0.97 ** (i / 4)) for i in range(240)]  # -3% a day for 60 days

CASES: list[tuple[str, list[Check], list[Check], str, str, dict[str, Any]]] = [
    # id, history, current checks, events (space-separated), final state, settings overrides
    ("too-little-history-no-verdict", steady(100, 5), [0, 0, 0], "", "insufficient_data", {}),
    ("steady-series-stays-normal", H, steady(100, 8), "", "normal", {}),
    ("drop-to-zero-confirmed-on-2", H, [0, 0], "drop", "dropped", {}),
    ("one-low-check-is-only-pending", H, [0], "", "pending", {}),
    ("one-check-glitch-then-normal", H, [0, 100, 100], "", "normal", {}),
    ("failed-check-neither-confirms", H, [0, "x"], "", "pending", {}),
    ("failed-check-does-not-reset", H, [0, "x", "x", 0], "drop", "dropped", {}),
    ("positive-no-results-is-a-drop", H, ["nr", "nr"], "drop", "dropped", {}),
    ("fall-to-40pct-is-not-a-drop", H, [40, 40, 40], "", "normal", {}),
    ("volatile-series-z-guard", volatile(40), [25, 25, 25], "", "normal", {}),
    ("volatile-series-to-zero-drops", volatile(40), [0, 0], "drop", "dropped", {}),
    ("tiny-baseline-ok-zero-ignored", steady(10, 40), [0, 0, 0, 0], "", "normal", {}),
    ("tiny-baseline-two-no-results", steady(10, 40), ["nr", "nr"], "", "pending", {}),
    ("tiny-baseline-3-no-results", steady(10, 40), ["nr"] * 3, "drop", "dropped", {}),
    ("below-tiny-min-never-alerts", steady(3, 40), ["nr"] * 6, "", "normal", {}),
    ("back-after-a-day-recovered", H, [0, 0, 0, 0, 100, 100], "drop recovered", "normal", {}),
    ("half-back-is-partial", H, [0, 0, 50, 50], "drop partial", "partial", {}),
    ("partial-then-recovered", H, [*P, 90, 90, 90], "drop partial recovered", "normal", {}),
    ("partial-then-gone-again", H, [*P, 0, 0, 0], "drop partial drop", "dropped", {}),
    ("partial-needs-3-to-leave", H, [*P, 90, 90, 50, 0, 0], "drop partial", "partial", {}),
    ("flapping-between-zones-holds", H, [0, 0, 60, 75, 60, 75, 60], "drop", "dropped", {}),
    ("one-good-check-does-not-recover", H, [0, 0, 100, 0], "drop", "dropped", {}),
    ("domains-collapse-is-soft-drop", HD, [(80, 3), (80, 3)], "drop", "dropped", {}),
    ("domains-rule-off", HD, [(80, 3), (80, 3)], "", "normal", {"domains_rule": False}),
    ("k3-needs-three", H, [0, 0], "", "pending", {"confirm_checks": 3}),
    ("k3-confirms-on-third", H, [0, 0, 0], "drop", "dropped", {"confirm_checks": 3}),
    ("news-spike-end-uses-long-median", steady(100, 160) + steady(500, 40), H, "", "normal", {}),
    ("slow-decline-follows-baseline", H, DECLINE, "", "normal", {}),
    ("old-pending-drop-is-forgotten", H, [0, *["x"] * 12, 0], "", "pending", {}),
]


@pytest.mark.parametrize(
    ("history", "current", "expected", "final", "overrides"),
    [pytest.param(*c[1:], id=c[0]) for c in CASES],
)
def test_series_rule(
    history: list[Check],
    current: list[Check],
    expected: str,
    final: str,
    overrides: dict[str, Any],
) -> None:
    result = run(history + current, S.with_overrides(overrides))
    # Source-level events (a lone series failing is a failing source) are tested elsewhere.
    assert [e.event for e in result.events if e.person is not None] == expected.split()
    assert result.state is not None
    assert result.state.status == final


def test_drop_event_carries_frozen_baseline_ratio_and_confirming_checks() -> None:
    result = run([*steady(100, 40), 3, 2])
    (drop,) = result.events
    assert drop.metric == "images"
    assert drop.baseline == pytest.approx(100.5)  # median of the wobble around 100
    assert drop.baseline_window_days == 14
    assert drop.observed == 2
    assert drop.ratio == pytest.approx(2 / 100.5, abs=1e-4)
    assert [c.count for c in drop.confirming] == [3, 2]
    assert drop.episode_start == drop.confirming[0].t
    assert drop.classification == "single_source"
    assert "2 consecutive valid checks at 2% of the 14-day median" in drop.reason


def test_recovery_compares_with_the_baseline_frozen_at_onset() -> None:
    result = run(steady(100, 40) + [0] * 40 + [75, 75])
    assert [e.event for e in result.events] == ["drop", "recovered"]
    recovered = result.events[-1]
    assert recovered.baseline == result.events[0].baseline
    assert recovered.episode_start == result.events[0].episode_start
    assert recovered.episode_state == "resolved"


def test_soft_drop_reports_the_domains_metric() -> None:
    result = run([*steady(100, 40, 40), (80, 3), (70, 2)])
    (drop,) = result.events
    assert drop.metric == "domains"
    assert drop.observed == 2
    assert drop.baseline == pytest.approx(40, abs=1)
    assert "distinct source domains" in drop.reason


def test_first_sign_of_a_drop_asks_for_an_early_recheck() -> None:
    assert run([*steady(100, 40), 0]).rechecks == 1
    assert run([*steady(100, 40), 100]).rechecks == 0


def test_tiny_baseline_drop_says_why_it_alerted() -> None:
    (drop,) = run(steady(10, 40) + ["nr"] * 3).events
    assert "positively reported no results on 3 consecutive valid checks" in drop.reason
    assert len(drop.confirming) == 3
