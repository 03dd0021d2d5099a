"""The scenario suite of issue 4: every case the detector must get right, on generated data.

Run alone with ``pytest -m scenario``. A small deterministic simulator plays the daemon:
every source checks all its series every 6 hours (watched people first, then the controls,
5 s apart), and when the detector asks for an early re-check it re-checks that series with
the source's controls ``recheck_after`` later. Counts are ``level x exp(noise)`` with seeded
Gaussian noise on log counts (sigma 0.25) and 2% random failed checks; a level of 0 is a
positive ``no_results``. Distinct domains follow the count (about a third of it, at most 60)
unless a scenario says otherwise. Each scenario changes the level, status or domains of some
series from day ``ONSET`` on.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from monitor.core.observation import Status
from monitor.detector import DetectionSettings, Engine, Event, Point, Role, SeriesKey

pytestmark = pytest.mark.scenario

T0 = datetime(2024, 1, 1, tzinfo=UTC)
ONSET = 45.0  # days: the event starts at a scheduled check time
DAYS = 60.0
CADENCE = timedelta(hours=6)
FAMILIES = {
    "baidu_images": "chinese",
    "sogou_images": "chinese",
    "bing_images": "bing",
    "wikimedia_commons": "independent",
}
PEOPLE = ("董经纬", "秦刚", "李尚福", "薄瓜瓜", "艾未未", "赵婷")
CONTROLS = ("大熊猫", "故宫", "长城")

Level = Callable[[float], float]  # day -> expected images (0 = the engine says no results)
StatusAt = Callable[[float], Status]  # day -> forced status (OK = follow the level)
DomainsAt = Callable[[float, int], int]  # day, images -> distinct domains


def const(level: float) -> Level:
    return lambda day: level


def step(before: float, after: float, start: float = ONSET, end: float = math.inf) -> Level:
    """``before``, then ``after`` from day ``start`` until day ``end``, then ``before``."""
    return lambda day: after if start <= day < end else before


def ok(day: float) -> Status:
    return Status.OK


def default_domains(day: float, images: int) -> int:
    return min(60, max(1 if images else 0, images // 3))


@dataclass
class Spec:
    """One simulated series."""

    key: SeriesKey
    role: Role = "watch"
    level: Level = field(default_factory=lambda: const(150))
    status: StatusAt = ok
    domains: DomainsAt = default_domains
    sigma: float = 0.25
    fail_rate: float = 0.02


@dataclass
class Result:
    events: list[Event]
    rechecks: list[tuple[SeriesKey, datetime]]
    checks: dict[SeriesKey, list[Point]]

    def valid_after(self, key: SeriesKey, t: datetime) -> list[Point]:
        """The series' valid checks from ``t`` on."""
        return [p for p in self.checks[key] if p.t >= t and p.valid]

    def of(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.event == kind]

    @property
    def kinds(self) -> list[str]:
        return [e.event for e in self.events]


def world(sources: tuple[str, ...] = ("baidu_images",), **per: dict[str, Spec]) -> list[Spec]:
    """Every person and control on every source at a steady level, then per-case specs."""
    specs: dict[SeriesKey, Spec] = {}
    for n, source in enumerate(sources):
        for i, person in enumerate(PEOPLE):
            key = SeriesKey(person, person, source)
            specs[key] = Spec(key, level=const(80 + 40 * ((i + n) % 5)))
        for control in CONTROLS:
            key = SeriesKey(f"control:{control}", control, source)
            specs[key] = Spec(key, role="control", level=const(300))
    return list(specs.values())


def override(specs: list[Spec], match: Callable[[SeriesKey], bool], **changes: object) -> None:
    for spec in specs:
        if match(spec.key):
            for name, value in changes.items():
                setattr(spec, name, value)


def simulate(specs: list[Spec], *, seed: int = 7, days: float = DAYS) -> Result:
    """Play the daemon over ``days``; every event the detector raised, and the re-checks."""
    settings = DetectionSettings()
    rechecks: list[tuple[SeriesKey, datetime]] = []
    queue: list[tuple[datetime, int, SeriesKey]] = []
    seq = 0
    by_source: dict[str, list[Spec]] = {}
    for spec in specs:
        by_source.setdefault(spec.key.source, []).append(spec)
    by_key = {s.key: s for s in specs}
    rngs = {s.key: random.Random(f"{seed}:{s.key}") for s in specs}

    def schedule(t: datetime, keys: list[SeriesKey]) -> None:
        nonlocal seq
        for j, key in enumerate(keys):
            seq += 1
            heapq.heappush(queue, (t + timedelta(seconds=5 * j), seq, key))

    scheduled_rechecks: set[tuple[str, datetime]] = set()

    def on_recheck(key: SeriesKey, at: datetime) -> None:
        rechecks.append((key, at))
        controls = [s.key for s in by_source[key.source] if s.role == "control"]
        if (key.source, at) not in scheduled_rechecks:  # controls once per re-check round
            scheduled_rechecks.add((key.source, at))
            schedule(at + timedelta(seconds=5), controls)
        schedule(at, [key])

    for n in range(int(days * 4)):
        for m, (_source, group) in enumerate(sorted(by_source.items())):
            # sources run 10 minutes apart; watched series first, then the controls
            keys = [s.key for s in group if s.role == "watch"] + [
                s.key for s in group if s.role == "control"
            ]
            schedule(T0 + n * CADENCE + timedelta(minutes=10 * m), keys)

    engine = Engine(settings, families=FAMILIES, on_recheck=on_recheck)
    events: list[Event] = []
    checks: dict[SeriesKey, list[Point]] = {s.key: [] for s in specs}
    end = T0 + timedelta(days=days)
    while queue:
        t = queue[0][0]
        events += engine.advance(t)  # closing a round may schedule a re-check before t
        if queue[0][0] < t:
            continue
        t, _, key = heapq.heappop(queue)
        if t >= end:
            break
        spec, rng = by_key[key], rngs[key]
        day = (t - T0).total_seconds() / 86400
        checks[key].append(p := observe(spec, rng, t, day))
        events += engine.feed(key, spec.role, p)
    events += engine.finish()
    return Result(events, rechecks, checks)


def observe(spec: Spec, rng: random.Random, t: datetime, day: float) -> Point:
    noise = rng.gauss(0, spec.sigma)
    failed = rng.random() < spec.fail_rate
    forced = spec.status(day)
    if forced is not Status.OK:
        return Point(t, forced)
    if failed:
        return Point(t, Status.NETWORK_ERROR)
    level = spec.level(day)
    images = 0 if level <= 0 else max(0, round(level * math.exp(noise)))
    if images == 0:
        return Point(t, Status.NO_RESULTS, 0, 0)
    return Point(t, Status.OK, images, spec.domains(day, images))


def person(name: str, source: str | None = None) -> Callable[[SeriesKey], bool]:
    return lambda k: k.person == name and (source is None or k.source == source)


def day(d: float) -> datetime:
    return T0 + timedelta(days=d)


# --- scenarios -------------------------------------------------------------------------------


def test_quiet_world_raises_nothing() -> None:
    assert simulate(world(("baidu_images", "sogou_images"))).events == []


def test_sudden_erasure_on_one_engine_alerts_within_k_valid_checks() -> None:
    specs = world(("baidu_images", "bing_images"))
    override(specs, person("董经纬", "baidu_images"), level=step(200, 0))
    result = simulate(specs)
    (drop,) = result.events
    assert (drop.event, drop.person, drop.source) == ("drop", "董经纬", "baidu_images")
    # confirmed by exactly the first K valid checks after the onset...
    k = DetectionSettings().confirm_checks
    first = result.valid_after(SeriesKey("董经纬", "董经纬", "baidu_images"), day(ONSET))[:k]
    assert [c.t for c in drop.confirming] == [p.t for p in first]
    # ... and the first sign triggered a re-check, so that took an hour, not a cadence
    assert drop.t - day(ONSET) < timedelta(hours=1)
    assert drop.classification == "single_source"
    assert drop.metric == "images"
    assert [p.source for p in drop.other_sources] == ["bing_images"]
    assert drop.other_sources[0].state == "normal"
    assert [c.bad for c in drop.controls] == [False, False, False]
    assert "controls healthy (3/3 within normal range)" in drop.reason


def test_erasure_to_a_few_state_media_sites_is_a_soft_drop() -> None:
    specs = world()
    override(
        specs,
        person("薄瓜瓜"),
        level=step(150, 110),  # a few whitelisted sites still carry many images
        domains=lambda d, images: 3 if d >= ONSET else default_domains(d, images),
    )
    result = simulate(specs)
    (drop,) = result.events
    assert (drop.event, drop.person, drop.metric) == ("drop", "薄瓜瓜", "domains")
    assert drop.observed == 3
    first = result.valid_after(SeriesKey("薄瓜瓜", "薄瓜瓜", "baidu_images"), day(ONSET))[:2]
    assert [c.t for c in drop.confirming] == [p.t for p in first]


def test_erasure_on_two_chinese_engines_is_corroborated() -> None:
    specs = world(("baidu_images", "sogou_images", "wikimedia_commons"))
    for source in ("baidu_images", "sogou_images"):
        override(specs, person("赵婷", source), level=step(150, 0))
    result = simulate(specs)
    drops = result.of("drop")
    assert sorted(e.source for e in drops) == ["baidu_images", "sogou_images"]
    assert result.kinds == ["drop", "drop"]
    # the first alert knows only what the other engine showed then; the second is sure
    later = drops[-1]
    assert later.classification == "corroborated"
    assert drops[0].classification in ("single_source", "corroborated")
    families = {p.source: p.family for p in later.other_sources}
    assert families == {drops[0].source: "chinese", "wikimedia_commons": "independent"}


def test_drop_seen_on_an_independent_source_too_is_global() -> None:
    specs = world(("baidu_images", "wikimedia_commons"))
    override(specs, person("艾未未"), level=step(150, 0))
    drops = simulate(specs).of("drop")
    assert len(drops) == 2
    assert drops[-1].classification == "global"


def test_captcha_storm_raises_no_drop_and_one_unhealthy() -> None:
    specs = world()
    override(specs, lambda k: True, status=lambda d: Status.BLOCKED if 45 <= d < 47 else Status.OK)
    result = simulate(specs)
    assert result.kinds == ["source_unhealthy", "source_recovered"]
    assert "blocked" in result.events[0].reason
    assert result.events[1].t >= day(47)


def test_layout_change_raises_no_drop_and_source_unhealthy() -> None:
    specs = world()
    parse_errors = lambda d: Status.PARSE_ERROR if d >= ONSET else Status.OK  # noqa: E731
    override(specs, lambda k: True, status=parse_errors)
    result = simulate(specs)
    # 15 days of parse errors: one alert, no drop, no stale alert per person
    assert result.kinds == ["source_unhealthy"]
    assert result.events[0].t - day(ONSET) <= timedelta(hours=24)


def test_one_check_glitch_raises_nothing() -> None:
    specs = world()
    glitch = lambda d: 0 if ONSET <= d < ONSET + 0.01 else 150  # noqa: E731
    override(specs, person("李尚福"), level=glitch)
    result = simulate(specs)
    assert result.events == []
    assert [k.person for k, _ in result.rechecks] == ["李尚福"]  # it was seen and re-checked


def test_slow_decline_over_weeks_raises_nothing() -> None:
    specs = world()

    def decline(d: float) -> float:  # -3% a day for 70 days
        return float(200 * 0.97 ** max(0.0, d - 20))

    override(specs, person("秦刚"), level=decline)
    result = simulate(specs, days=90)
    assert decline(90) / decline(0) < 0.15
    assert result.events == []


def test_news_spike_that_ends_raises_nothing() -> None:
    specs = world()
    override(specs, person("秦刚"), level=step(100, 500, start=30, end=40))
    assert simulate(specs, days=70).events == []


def test_tiny_baseline_flapping_raises_nothing() -> None:
    specs = world()
    override(specs, person("董经纬"), level=const(8), sigma=0.6)  # 8 images, flapping to 0-2
    assert simulate(specs).events == []


def test_tiny_baseline_alerts_on_sustained_positive_no_results() -> None:
    specs = world()
    override(specs, person("董经纬"), level=step(10, 0), sigma=0.1)
    (drop,) = simulate(specs).events
    assert drop.person == "董经纬"
    assert len(drop.confirming) == DetectionSettings().tiny_no_results_checks
    assert {c.status for c in drop.confirming} == {"no_results"}


def test_images_back_after_a_day_are_recovered() -> None:
    specs = world()
    override(specs, person("艾未未"), level=step(150, 0, end=ONSET + 1))
    result = simulate(specs)
    assert result.kinds == ["drop", "recovered"]
    recovered = result.events[1]
    assert recovered.episode_start == result.events[0].episode_start
    assert all(c.t >= day(ONSET + 1) for c in recovered.confirming)
    # within two scheduled checks of the return (with this seed the first check back is at
    # 61% and the re-check it asked for fails, so it is the 6:00 check and its re-check)
    assert recovered.t - day(ONSET + 1) < timedelta(hours=7)


def test_partial_restoration_is_partial() -> None:
    specs = world()
    # 45% back, near the middle of the partial zone (30%-70%) in log terms
    level = lambda d: 150 if d < ONSET else (0 if d < ONSET + 2 else 67)  # noqa: E731
    override(specs, person("秦刚"), level=level)
    result = simulate(specs)
    assert result.kinds == ["drop", "partial"]
    assert result.events[1].episode_state == "partial"
    assert 0.3 < (result.events[1].ratio or 0) < 0.7


def test_engine_wide_change_hitting_controls_is_one_incident() -> None:
    specs = world()
    engine_wide = step(1.0, 0.15, end=ONSET + 3)
    for spec in specs:
        spec.fail_rate = 0.0  # so every person is observed in the incident round
        base = spec.level(0)
        spec.level = lambda d, base=base: base * engine_wide(d)  # type: ignore[misc]
    result = simulate(specs)
    (incident,) = result.events
    assert incident.event == "source_incident"
    assert sorted(incident.people_involved) == sorted(PEOPLE)
    assert sum(c.bad for c in incident.controls) == 3
    assert not result.of("drop")


def test_many_people_dropping_at_once_without_controls_is_one_incident() -> None:
    specs = [s for s in world() if s.role == "watch"]
    for spec in specs[:4]:
        spec.level = step(spec.level(0), 0)
        spec.fail_rate = 0.0  # so all four are observed in the incident round
    result = simulate(specs)
    (incident,) = result.events
    assert incident.event == "source_incident"
    assert len(incident.people_involved) == 4
    assert incident.controls == ()


def test_one_person_dropping_under_several_names_is_not_an_incident() -> None:
    # Three names of one person fall at once: as many series as the incident threshold
    # (incident_min_people = 3), but one person, so three drops of that person, no incident.
    specs = [s for s in world() if s.role == "watch"]
    for alias in ("Dong Jingwei", "董经卫"):
        key = SeriesKey("董经纬", alias, "baidu_images")
        specs.append(Spec(key, level=const(200)))
    for spec in specs:
        spec.fail_rate = 0.0
    override(specs, person("董经纬"), level=step(200, 0))
    result = simulate(specs)
    assert result.of("source_incident") == []
    drops = result.of("drop")
    assert {(d.person, d.term) for d in drops} == {
        ("董经纬", "董经纬"),
        ("董经纬", "Dong Jingwei"),
        ("董经纬", "董经卫"),
    }


def test_incident_threshold_counts_people_not_their_names() -> None:
    # Three people fall, each under two names, among six people with nine series: the
    # fraction is 3 of 6 people (not 6 of 9 series), and the incident lists three people.
    specs = [s for s in world() if s.role == "watch"]
    fallen = PEOPLE[:3]
    for name in fallen:
        specs.append(Spec(SeriesKey(name, f"{name} (alias)", "baidu_images"), level=const(150)))
    for spec in specs:
        spec.fail_rate = 0.0
        if spec.key.person in fallen:
            spec.level = step(spec.level(0), 0)
    result = simulate(specs)
    (incident,) = result.events
    assert incident.event == "source_incident"
    assert sorted(incident.people_involved) == sorted(fallen)
    assert "3 of 6 watched people dropped in the same round" in incident.reason


def test_erasure_during_a_control_outage_is_alerted_once_controls_answer() -> None:
    specs = world()
    override(specs, person("董经纬"), level=step(200, 0))
    outage = lambda d: Status.BLOCKED if ONSET <= d < ONSET + 0.5 else Status.OK  # noqa: E731
    override(specs, lambda k: k.person.startswith("control:"), status=outage)
    result = simulate(specs)
    (drop,) = result.events  # no incident: failed controls explain nothing, they only gate
    assert drop.person == "董经纬"
    assert drop.confirming[0].t >= day(ONSET + 0.5)
    assert "controls healthy (3/3" in drop.reason
