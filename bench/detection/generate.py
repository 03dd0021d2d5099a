"""Generate a labelled corpus of checks, deterministic by seed.

Usage::

    python -m bench.detection.generate --seed 1 --out DIR [--people 40 --days 180]

writes ``DIR/observations.jsonl`` (the backtest input of issue 7, in time order) and
``DIR/labels.json``. The same seed gives the same bytes. Dev seeds are
``corpus.DEV_SEEDS``, test seeds ``corpus.TEST_SEEDS``; tune on the first, report the second.

The count of a series is drawn on the log scale (detection.md 2.1 and 3.4): base level,
weekly seasonality, a slow trend, the engine's common factor (an AR(1) drift plus rare
persistent index jumps) and Student-t noise with 4 degrees of freedom; then the labelled
effects (drops, spikes, declines, glitches), engine incidents, and failed checks are applied.

Labels (``labels.json``): ``series`` (every series with its base and noise), ``events``
(what must alert: per source onset and restoration, expected alert events, ``major``),
``must_not_alert`` (spike, slow_decline, tiny, glitch, engine_incident episodes),
``engine_incidents`` (source, kind, onset, end) and ``engine_shifts`` (index jumps).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.detection.corpus import (
    CADENCE,
    CAPS,
    CHECKS_PER_DAY,
    CONTROL_TERMS,
    LABELS_FORMAT,
    SOURCES,
    START,
    iso,
)
from bench.detection.plan import plan_corpus
from bench.detection.scenarios import Incident, Plan, SeriesSpec, rng_for

logger = logging.getLogger(__name__)

# Background failed checks per source: (network_error, http_error, blocked) probabilities.
BACKGROUND_FAILURES = ((0.01, 0.03), (0.002, 0.008), (0.002, 0.01))
STORM_STATUS = {"captcha_storm": "blocked", "rate_limit": "blocked", "layout_change": "parse_error"}


def _t4(rng: Any) -> float:
    """Student t with 4 degrees of freedom, scaled to unit variance (heavy tails)."""
    u = (1.0 - rng.random()) * (1.0 - rng.random())
    return float(rng.gauss(0.0, 1.0) / math.sqrt(-0.5 * math.log(u)) / math.sqrt(2.0))


def _poisson(rng: Any, lam: float) -> int:
    """Knuth's method: fine for the small means of tiny series."""
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _engine(plan: Plan, source: str) -> tuple[list[float], list[Incident | None], float]:
    """The engine's common log factor per check, its incident per check, its season phase."""
    rng = rng_for(plan.seed, "engine", source)
    n = plan.n_checks
    factor = [0.0] * n
    level = 0.0
    jumps = {k: v for s, k, v in plan.shifts if s == source}
    jump = 0.0
    for k in range(n):
        level = 0.995 * level + rng.gauss(0.0, 0.01)  # slow drift, about ±10%
        jump += jumps.get(k, 0.0)
        factor[k] = level + jump
    incident: list[Incident | None] = [None] * n
    for inc in plan.incidents:
        if inc.source == source:
            for k in range(inc.k0, inc.k1):
                incident[k] = inc
    return factor, incident, rng.random()


def _series_lines(
    plan: Plan, spec: SeriesSpec, engine: tuple[list[float], list[Incident | None], float]
) -> list[str]:
    """Draw one series and render its records as JSON lines, one per check."""
    factor, incident, phase = engine
    rng = rng_for(plan.seed, "draw", spec.person, spec.source)
    frng = rng_for(plan.seed, "fail", spec.person, spec.source)
    net, http, blk = (frng.uniform(lo, hi) for lo, hi in BACKGROUND_FAILURES)
    effects = plan.effects.get((spec.person, spec.source), [])
    cap = CAPS[spec.source]
    log_base = math.log(spec.base)
    head = {"person": spec.person, "term": spec.term, "source": spec.source}
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    out: list[str] = []
    t0 = START + timedelta(seconds=spec.offset_s)
    for k in range(plan.n_checks):
        season = spec.season_amp * math.sin(2 * math.pi * (k / (7 * CHECKS_PER_DAY) + phase))
        common = factor[k] + season
        x = math.exp(log_base + spec.trend * k + common + spec.sigma * _t4(rng))
        mode, glitch, scale = "", -1.0, 1.0
        for e in effects:
            if k < e.k0:
                continue
            if e.kind == "decay":  # the faded level persists after the decline
                x *= math.exp(-e.value * (min(k, e.k1) - e.k0))
            elif k < e.k1:
                if e.kind == "mult":
                    x *= e.value
                elif e.kind == "scale":
                    scale *= e.value
                elif e.kind == "glitch":
                    glitch = e.value
                else:
                    mode = e.kind
        count = _poisson(rng, x) if spec.tiny else round(x)
        count = round(min(cap, count) * scale)
        domains: int | None = None
        if mode == "zero":
            count = 0
        elif mode == "soft":
            # A whitelist of a few state-media pages: 1-10% of the usual results (1.2).
            count = rng.randint(max(1, round(0.02 * spec.base)), max(2, round(0.1 * spec.base)))
            count = min(count, 12)
            domains = min(count, rng.randint(1, 3))
        if glitch >= 0:
            count = round(count * glitch)
        inc = incident[k]
        if inc is not None and inc.kind == "index_collapse":
            count = round(count * inc.value * math.exp(rng.gauss(0.0, 0.1)))
        elif inc is not None and inc.kind == "partial_render":
            count = min(count, int(inc.value))
        elif inc is not None and inc.kind == "empty_results":
            count = 0
        if domains is None:
            d = round(count * spec.dfrac * math.exp(rng.gauss(0.0, 0.15)))
            domains = 0 if count == 0 else max(1, min(count, d))
        else:
            # A soft drop later cut by a glitch or an incident: never more domains than images.
            domains = 0 if count == 0 else min(domains, count)
        status = "ok" if count > 0 else "no_results"
        u = frng.random()
        if (
            inc is not None
            and inc.kind in STORM_STATUS
            and (inc.kind != "rate_limit" or u < inc.value)
        ):
            status = STORM_STATUS[inc.kind]
        elif u < net:
            status = "network_error"
        elif u < net + http:
            status = "http_error"
        elif u < net + http + blk:
            status = "blocked"
        rec: dict[str, Any] = {"t": iso(t0 + k * CADENCE), **head, "status": status}
        if status in ("ok", "no_results"):
            rec["count"] = count
            if spec.total_base is not None:
                # A much noisier figure that stays high under soft censorship (1.2).
                total = spec.total_base * math.exp(common + rng.gauss(0.0, 0.5))
                rec["reported_total"] = 0 if count == 0 else max(count, round(total))
            rec["domains"] = domains
        else:
            rec["count"] = None
            rec["domains"] = None
        rec["role"] = spec.role
        out.append(dumps(rec))
    return out


def _at(k: int, spec: SeriesSpec | None = None) -> str:
    return iso(START + k * CADENCE + timedelta(seconds=spec.offset_s if spec else 0))


def labels_of(plan: Plan, people: int, days: int) -> dict[str, Any]:
    """The labels document of a plan, with every index turned into a time."""
    specs = {(s.person, s.source): s for s in plan.series}
    watch = sorted({s.person for s in plan.series if s.role == "watch"})
    events = []
    for e in plan.events:
        onsets = {s: _at(k, specs[(e.person, s)]) for s, k in e.onsets.items()}
        ends = {
            s: (_at(k, specs[(e.person, s)]) if k is not None else None) for s, k in e.ends.items()
        }
        end_values = list(ends.values())
        events.append(
            {
                "id": e.id,
                "type": e.type,
                "person": e.person,
                "term": specs[(e.person, next(iter(e.onsets)))].term,
                "sources": list(e.onsets),
                "onset": min(onsets.values()),
                "onsets": onsets,
                "end": None if None in end_values else max(v for v in end_values if v),
                "ends": ends,
                "expected": e.expected,
                "major": e.major,
                "classification": e.classification,
                "mode": e.mode,
                "restore_level": e.restore_level,
            }
        )
    negatives = [
        {
            "id": g.id,
            "type": g.type,
            "persons": g.persons,
            "sources": g.sources,
            "start": _at(g.k0),
            "end": _at(g.k1),
            **g.detail,
        }
        for g in plan.negatives
    ]
    incidents = [
        {
            "id": i.id,
            "source": i.source,
            "kind": i.kind,
            "onset": _at(i.k0),
            "end": _at(i.k1),
            "value": i.value,
        }
        for i in plan.incidents
    ]
    negatives += [
        {
            "id": i["id"],
            "type": "engine_incident",
            "persons": watch,
            "sources": [i["source"]],
            "start": i["onset"],
            "end": i["end"],
            "kind": i["kind"],
        }
        for i in incidents
    ]
    return {
        "format": LABELS_FORMAT,
        "seed": plan.seed,
        "people": people,
        "days": days,
        "start": iso(START),
        "end": _at(plan.n_checks),
        "cadence_hours": 6,
        "sources": SOURCES,
        "controls": {s: list(CONTROL_TERMS) for s in SOURCES},
        "series": [
            {
                "person": s.person,
                "term": s.term,
                "source": s.source,
                "role": s.role,
                "base": round(s.base, 2),
                "sigma": s.sigma,
            }
            for s in plan.series
        ],
        "events": events,
        "must_not_alert": negatives,
        "engine_incidents": incidents,
        "engine_shifts": [
            {"source": s, "t": _at(k), "factor": round(math.exp(v), 3)} for s, k, v in plan.shifts
        ],
    }


def generate(seed: int, out: Path, people: int = 40, days: int = 180) -> tuple[Path, Path]:
    """Write ``observations.jsonl`` and ``labels.json`` for one seed into ``out``."""
    plan = plan_corpus(seed, people, days)
    out.mkdir(parents=True, exist_ok=True)
    engines = {s: _engine(plan, s) for s in SOURCES}
    order = sorted(plan.series, key=lambda s: s.offset_s)
    lines = [_series_lines(plan, spec, engines[spec.source]) for spec in order]
    obs = out / "observations.jsonl"
    with obs.open("w", encoding="utf-8") as f:
        # Offsets are fixed and shorter than a round, so round-major order is time order.
        for k in range(plan.n_checks):
            f.write("\n".join(series[k] for series in lines))
            f.write("\n")
    labels = out / "labels.json"
    doc = labels_of(plan, people, days)
    labels.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return obs, labels


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    p = argparse.ArgumentParser(prog="python -m bench.detection.generate", description=__doc__)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--people", type=int, default=40)
    p.add_argument("--days", type=int, default=180)
    a = p.parse_args(argv)
    started = time.perf_counter()
    obs, labels = generate(a.seed, a.out, a.people, a.days)
    doc = json.loads(labels.read_text(encoding="utf-8"))
    n = sum(1 for _ in obs.open(encoding="utf-8"))
    print(
        f"seed {a.seed}: {n} observations, {len(doc['series'])} series, "
        f"{len(doc['events'])} events, {len(doc['must_not_alert'])} must-not-alert episodes, "
        f"{len(doc['engine_incidents'])} engine incidents in {time.perf_counter() - started:.1f}s"
        f" -> {a.out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
