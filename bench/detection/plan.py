"""Plan a corpus: its people and series, engine incidents and index jumps, then scenarios.

``plan_corpus(seed, people, days)`` is the entry point; ``scenarios.py`` holds the types
and places each person's labelled scenario. Each decision draws from its own named stream
(``rng_for``), so adding a person does not reshuffle the others' noise.
"""

from __future__ import annotations

import math
import random

from bench.detection.corpus import (
    CAPS,
    CHECKS_PER_DAY,
    CONTROL_TERMS,
    HAS_TOTAL,
    PROBATION_DAYS,
    SOURCES,
)
from bench.detection.scenarios import (
    EVENT_TYPES,
    Incident,
    Plan,
    SeriesSpec,
    glitches,
    place,
    rng_for,
)

# Assignment of scenarios to people: the first twelve cover every kind, so that a small
# corpus (tests) still has most of them; 40 people give the mix of detection.md 3.4.
PATTERN: tuple[str, ...] = tuple(
    [
        "hard_drop",
        "spike",
        "soft_drop",
        "cascade",
        "slow_decline",
        "hard_drop_1day",
        "tiny",
        "partial",
        "bing_only",
        "recovery",
        "moderate",
        "plain",
        "hard_drop",
        "soft_drop",
        "spike",
        "cascade",
        "partial",
        "recovery",
        "slow_decline",
        "hard_drop_1day",
        "plain",
        "hard_drop",
        "soft_drop",
        "tiny",
        "spike",
        "bing_only",
        "moderate",
        "recovery",
        "hard_drop_1day",
        "slow_decline",
        "partial",
        "cascade",
        "plain",
        "hard_drop",
        "soft_drop",
        "spike",
        "tiny",
        "plain",
        "slow_decline",
        "spike",
    ]
)
# Per-source scale of a person's image count relative to their prominence.
SOURCE_SCALE: dict[str, tuple[float, float]] = {
    "baidu_images": (1.0, 1.6),
    "sogou_images": (0.7, 1.2),
    "so_images": (0.6, 1.1),
    "bing_images": (0.8, 1.4),
    "wikimedia_commons": (0.15, 0.6),
    "gdelt": (0.3, 1.0),
    "google_cse": (0.5, 1.0),
}
# Noise on log counts (detection.md 2.1: sigma 0.1-0.5 for returned-result counts).
SIGMAS = (0.1, 0.2, 0.3, 0.5)
SIGMA_WEIGHTS = (0.3, 0.3, 0.3, 0.1)
# Engine incidents per source-day, by kind (detection.md 3.4, O2-O6), and their lengths.
INCIDENT_RATES: dict[str, float] = {
    "captcha_storm": 1 / 45,
    "rate_limit": 1 / 60,
    "layout_change": 1 / 120,
    "index_collapse": 1 / 420,
    "partial_render": 1 / 420,
    "empty_results": 1 / 420,
}
INCIDENT_CHECKS: dict[str, tuple[int, int]] = {
    "captcha_storm": (1, 12),  # 6-72 h
    "rate_limit": (4, 12),
    "layout_change": (8, 40),  # 2-10 days
}
FAILED_KINDS = frozenset(INCIDENT_CHECKS)


def _term(i: int) -> str:
    surnames = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
    given = [
        "建国",
        "志强",
        "海峰",
        "卫东",
        "晓明",
        "振华",
        "立新",
        "国栋",
        "文斌",
        "永康",
        "春华",
        "德胜",
        "光明",
        "红军",
        "学军",
    ]
    return surnames[i % len(surnames)] + given[(i * 7 + i // len(surnames)) % len(given)]


def plan_corpus(seed: int, people: int, days: int) -> Plan:
    """Decide series, incidents, events and must-not-alert episodes for one corpus."""
    if days < 45:
        raise ValueError("the corpus needs at least 45 days (14 probationary + events)")
    n = days * CHECKS_PER_DAY
    kinds = [PATTERN[i % len(PATTERN)] for i in range(people)]
    rng_for(seed, "plan").shuffle(kinds)
    persons = [f"p{i + 1:02d}" for i in range(people)]
    series: list[SeriesSpec] = []
    for si, source in enumerate(SOURCES):
        srng = rng_for(seed, "series", source)
        for ci, term in enumerate(CONTROL_TERMS):
            series.append(_spec(srng, term, term, source, "control", si * 3000 + ci * 30, 150.0))
        for pi, (pid, kind) in enumerate(zip(persons, kinds, strict=True)):
            # Event people are prominent enough for their drops to be unambiguous.
            lo = 80.0 if kind in EVENT_TYPES else 30.0
            level = math.exp(rng_for(seed, "level", pid).uniform(math.log(lo), math.log(600)))
            base = level * srng.uniform(*SOURCE_SCALE[source])
            if kind == "tiny":
                base = srng.uniform(2.0, 10.0)
            offset = si * 3000 + (len(CONTROL_TERMS) + pi) * 30
            spec = _spec(srng, pid, _term(pi), source, "watch", offset, base)
            spec.tiny = kind == "tiny"
            series.append(spec)
    bases = {(s.person, s.source): s.base for s in series}
    incidents, busy = _incidents(seed, n)
    plan = Plan(seed, n, series, {}, incidents, [], [], _shifts(seed, n))
    for pid, kind in zip(persons, kinds, strict=True):
        place(plan, rng_for(seed, "scenario", pid), pid, kind, bases, busy)
    glitches(plan, busy)
    return plan


def _spec(
    rng: random.Random, person: str, term: str, source: str, role: str, offset: int, base: float
) -> SeriesSpec:
    sigma = 0.1 if role == "control" else rng.choices(SIGMAS, SIGMA_WEIGHTS)[0]
    total = math.exp(rng.uniform(math.log(1e4), math.log(5e6))) if source in HAS_TOTAL else None
    return SeriesSpec(
        person=person,
        term=term,
        source=source,
        role=role,
        offset_s=offset,
        base=min(base, CAPS[source] * 3.0),
        sigma=sigma,
        season_amp=rng.uniform(0.0, 0.3 if source == "gdelt" else 0.15),  # news is weekly
        trend=rng.uniform(-0.002, 0.002) / CHECKS_PER_DAY,
        dfrac=rng.uniform(0.25, 0.6),
        total_base=total,
    )


def _incidents(seed: int, n: int) -> tuple[list[Incident], dict[str, list[bool]]]:
    """Engine incidents, never overlapping on one source; ``busy`` marks their checks."""
    rng = rng_for(seed, "incidents")
    busy = {s: [False] * n for s in SOURCES}
    out: list[Incident] = []
    for kind, rate in INCIDENT_RATES.items():
        for _ in range(max(1, round(rate * n / CHECKS_PER_DAY * len(SOURCES)))):
            source = rng.choice(list(SOURCES))
            length = rng.randint(*INCIDENT_CHECKS.get(kind, (4, 12)))
            # Count-changing incidents need baselines, so they start after the probation.
            first = 8 if kind in FAILED_KINDS else PROBATION_DAYS * CHECKS_PER_DAY
            for _try in range(50):
                k0 = rng.randrange(first, n - length - 1)
                if not any(busy[source][max(0, k0 - 8) : k0 + length + 8]):
                    break
            else:
                continue
            value = 1.0
            if kind == "rate_limit":
                value = rng.uniform(0.3, 0.7)  # share of checks blocked
            elif kind == "index_collapse":
                value = rng.uniform(0.05, 0.3)  # every count multiplied by this
            elif kind == "partial_render":
                value = float(rng.randint(20, 35))  # every count capped at this
            out.append(Incident("", source, kind, k0, k0 + length, value))
            busy[source][k0 : k0 + length] = [True] * length
    out.sort(key=lambda i: (i.k0, i.source))
    for i, inc in enumerate(out):
        inc.id = f"I{i + 1:03d}"
    return out, busy


def _shifts(seed: int, n: int) -> list[tuple[str, int, float]]:
    """Persistent index jumps of 20-40% up or down (detection.md 2.1, [55])."""
    rng = rng_for(seed, "shifts")
    out = []
    for source in SOURCES:
        for _ in range(rng.choice((0, 1, 1, 2))):
            size = math.log(rng.uniform(1.2, 1.4))
            out.append((source, rng.randrange(n // 10, n), size if rng.random() < 0.5 else -size))
    return sorted(out, key=lambda x: (x[1], x[0]))
