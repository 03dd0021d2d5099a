"""What happens in a corpus, decided before any count is drawn: the plan's types, and the
placement of each person's labelled scenario.

Everything here is in check indices (``k`` = round number, 4 a day); ``generate.py`` turns
indices into times and draws the counts. The mix follows detection.md 3.4: per person at
most one labelled scenario (an event, or a case that must not alert), placed away from
engine incidents on the sources it touches so that each label means one thing.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field

from bench.detection.corpus import (
    CHECKS_PER_DAY,
    CHINESE,
    PROBATION_DAYS,
    SOURCES,
)

EVENT_TYPES = frozenset(
    {
        "hard_drop",
        "hard_drop_1day",
        "soft_drop",
        "cascade",
        "bing_only",
        "partial",
        "recovery",
        "moderate",
    }
)
EVENT_WINDOW = 16  # checks: the detection window of detection.md 3.2 (4 days)
MIN_EVENT_BASE = 30.0
GLITCH_RATE = 0.003  # per check
GLITCH_GAP = 4  # checks between two glitches of one series

logger = logging.getLogger(__name__)


@dataclass
class SeriesSpec:
    """One series: a person (or control term) on one source, with its noise parameters."""

    person: str
    term: str
    source: str
    role: str
    offset_s: int  # seconds after the start of each round; fixed, so rounds are visible
    base: float  # typical distinct-image count before the cap
    sigma: float
    season_amp: float
    trend: float  # log change per check
    dfrac: float  # distinct domains per image
    total_base: float | None  # typical "about N results", None if the engine shows none
    tiny: bool = False


@dataclass
class Effect:
    """A change to one series over checks [k0, k1).

    ``zero`` (hard drop), ``soft`` (whitelist), ``glitch``; ``mult`` scales the underlying
    level (spikes, so the cap clips them as it would), ``scale`` the observed count (partial
    restorations and moderate drops, so they show even on series at the cap), ``decay``
    is a slow decline whose final level persists.
    """

    kind: str
    k0: int
    k1: int
    value: float = 1.0


@dataclass
class Incident:
    """An engine-wide incident on one source over checks [k0, k1)."""

    id: str
    source: str
    kind: str
    k0: int
    k1: int
    value: float = 1.0  # blocked share, collapse factor or render cap, by kind


@dataclass
class Event:
    """A labelled disappearance: per source its onset check and restoration check."""

    id: str
    type: str
    person: str
    onsets: dict[str, int]
    ends: dict[str, int | None]
    expected: list[str]
    major: bool
    classification: str | None
    mode: str  # hard | soft | moderate
    restore_level: float | None = None


@dataclass
class Negative:
    """A labelled must-not-alert episode over checks [k0, k1)."""

    id: str
    type: str
    persons: list[str]
    sources: list[str]
    k0: int
    k1: int
    detail: dict[str, float] = field(default_factory=dict)


@dataclass
class Plan:
    """All decisions for one corpus."""

    seed: int
    n_checks: int
    series: list[SeriesSpec]
    effects: dict[tuple[str, str], list[Effect]]
    incidents: list[Incident]
    events: list[Event]
    negatives: list[Negative]
    shifts: list[tuple[str, int, float]]  # (source, k, log factor): index jumps


def rng_for(seed: int, *names: object) -> random.Random:
    """An independent, reproducible stream for one named decision."""
    return random.Random("/".join([str(seed), *map(str, names)]))


def _free(busy: dict[str, list[bool]], sources: list[str], lo: int, hi: int) -> bool:
    return not any(any(busy[s][max(lo, 0) : hi]) for s in sources)


def place(
    plan: Plan,
    rng: random.Random,
    pid: str,
    kind: str,
    bases: dict[tuple[str, str], float],
    busy: dict[str, list[bool]],
) -> None:
    """Place one person's scenario; see detection.md 3.4 for what each kind models."""
    n = plan.n_checks
    first, last = (PROBATION_DAYS + 7) * CHECKS_PER_DAY, n - 10 * CHECKS_PER_DAY
    big = [s for s in SOURCES if bases[(pid, s)] >= MIN_EVENT_BASE]
    if kind in ("plain",):
        return
    if kind == "tiny":
        plan.negatives.append(Negative(f"N-{pid}", "tiny", [pid], list(SOURCES), 0, n))
        return
    if kind in ("spike", "slow_decline"):
        _place_negative(plan, rng, pid, kind, first, last)
        return
    chinese = [s for s in CHINESE if s in big]
    if kind == "cascade" and len(chinese) < 3:
        kind = "hard_drop"
    if kind == "bing_only" and "bing_images" not in big:
        kind = "hard_drop"
    onsets: dict[str, int] = {}
    ends: dict[str, int | None] = {}
    mode = "hard" if rng.random() < 0.5 else "soft"
    expected = ["drop"]
    restore: float | None = None
    classification: str | None = "single_source"
    if kind == "cascade":
        srcs = list(CHINESE)
        lags = {s: rng.randint(0, 4) for s in srcs}
        if "bing_images" in big and rng.random() < 0.4:
            srcs.append("bing_images")
            lags["bing_images"] = rng.randint(0, 12)
        classification = "corroborated"
    else:
        pool = {
            "bing_only": ["bing_images"],
            "soft_drop": chinese,
            "hard_drop": [s for s in big if s != "gdelt"],
        }.get(kind, [s for s in big if s in (*CHINESE, "bing_images")]) or big
        srcs, lags = [pool[0]], {pool[0]: 0}
    duration: int | None = None
    if kind in ("hard_drop", "hard_drop_1day", "bing_only"):
        mode = "hard"
    if kind == "soft_drop":
        mode = "soft"
    if kind == "hard_drop_1day" or (kind == "bing_only" and rng.random() < 0.5):
        duration, expected = 4, ["drop", "recovered"]
    elif kind == "partial":
        duration, expected, restore = 8, ["drop", "partial"], rng.uniform(0.4, 0.6)
    elif kind == "recovery":
        duration, expected = rng.randint(4, 40), ["drop", "recovered"]
    elif kind == "moderate":
        mode, expected, classification = "moderate", [], None
    for _try in range(400):
        if kind != "cascade":  # a busy source is swapped for another of the pool
            srcs = [rng.choice(pool)]
            lags = {srcs[0]: 0}
        span = max(lags.values()) + (duration or 0)
        k0 = rng.randrange(first, last - span)
        tail = k0 + span
        if _free(busy, srcs, k0 - 8, k0 + max(lags.values()) + EVENT_WINDOW) and (
            duration is None or _free(busy, srcs, tail - 4, tail + 12)
        ):
            break
    else:
        logger.warning("seed %d: no room for %s of %s between incidents", plan.seed, kind, pid)
        return
    for s in srcs:
        ko = k0 + lags[s]
        onsets[s] = ko
        ends[s] = ko + duration if duration is not None else None
        eff = plan.effects.setdefault((pid, s), [])
        if mode == "moderate":
            eff.append(Effect("scale", ko, n, rng.uniform(0.4, 0.6)))
        else:
            eff.append(Effect("zero" if mode == "hard" else "soft", ko, ends[s] or n))
        if restore is not None:
            eff.append(Effect("scale", ko + (duration or 0), n, restore))
    plan.events.append(
        Event(
            f"E-{pid}",
            kind,
            pid,
            onsets,
            ends,
            expected,
            kind != "moderate",
            classification,
            mode,
            restore,
        )
    )


def _place_negative(
    plan: Plan, rng: random.Random, pid: str, kind: str, first: int, last: int
) -> None:
    others = [s for s in SOURCES if s != "gdelt"]
    srcs = ["gdelt", *rng.sample(others, rng.randint(1, 4))]
    if kind == "spike":
        length = rng.randint(12, 56)
        k0 = rng.randrange(first, max(first + 1, last - length))
        factor = rng.uniform(3.0, 10.0)
        for s in srcs:
            plan.effects.setdefault((pid, s), []).append(Effect("mult", k0, k0 + length, factor))
        tail = min(plan.n_checks, k0 + length + 14 * CHECKS_PER_DAY)
        plan.negatives.append(
            Negative(f"N-{pid}", "spike", [pid], srcs, k0, tail, {"factor": factor})
        )
        return
    length = rng.randint(30, 90) * CHECKS_PER_DAY
    k0 = rng.randrange(first - 7 * CHECKS_PER_DAY, max(first, plan.n_checks - length // 2))
    rate = rng.uniform(0.01, 0.04)
    for s in srcs:
        plan.effects.setdefault((pid, s), []).append(
            Effect("decay", k0, k0 + length, rate / CHECKS_PER_DAY)
        )
    tail = min(plan.n_checks, k0 + length + 14 * CHECKS_PER_DAY)
    plan.negatives.append(
        Negative(f"N-{pid}", "slow_decline", [pid], srcs, k0, tail, {"rate_per_day": rate})
    )


def glitches(plan: Plan, busy: dict[str, list[bool]]) -> None:
    """Single-check glitches (detection.md N6): a check at 0-20% of its value, labelled.

    Glitches on one series are at least ``GLITCH_GAP`` checks apart: two in a row are a
    12-hour drop, which no rule confirmed on two checks can tell from an erasure.
    """
    rng = rng_for(plan.seed, "glitches")
    affected = {(e.person, s): e.onsets[s] for e in plan.events for s in e.onsets}
    count = 0
    for spec in plan.series:
        if spec.tiny:
            continue
        stop = affected.get((spec.person, spec.source), plan.n_checks)
        last = -GLITCH_GAP
        for k in range(8, stop):
            if rng.random() < GLITCH_RATE and not busy[spec.source][k] and k - last >= GLITCH_GAP:
                count += 1
                last = k
                plan.effects.setdefault((spec.person, spec.source), []).append(
                    Effect("glitch", k, k + 1, rng.uniform(0.0, 0.2))
                )
                plan.negatives.append(
                    Negative(
                        f"G{count:04d}",
                        "glitch",
                        [spec.person],
                        [spec.source],
                        k,
                        min(plan.n_checks, k + 2 * CHECKS_PER_DAY),
                    )
                )
