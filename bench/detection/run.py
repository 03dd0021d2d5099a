"""Generate the corpus of each seed, run a detector over it, score the pooled alerts.

Usage::

    python -m bench.detection.run --seeds test [--detector auto|naive|engine|mod:func]
        [--set detection.drop_ratio=0.25 ...] [--people 40 --days 180] [--work DIR] [--json]

A detector is any function ``detect(observations_path, settings_overrides) -> alerts_path``
(``Detector``): it reads the observations file, writes the alerts it would have sent as JSON
Lines (webhook payload fields plus ``t``) and returns that file's path. ``--set`` values are
parsed as JSON when they can be (``0.25``, ``true``), else kept as strings; the
``detection.`` prefix is dropped. ``auto`` uses the monitor's engine when it can be imported
and otherwise the naive reference detector, and says which one it used.

Figures are pooled over the seeds (events, alerts and exposure are summed before the
ratios are taken). Tune on ``--seeds dev``; report ``--seeds test``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bench.detection.corpus import DEV_SEEDS, TEST_SEEDS
from bench.detection.generate import generate
from bench.detection.metrics import Figures
from bench.detection.score import check_targets, jsonable, render, score_files, summary

logger = logging.getLogger(__name__)

Detector = Callable[[Path, Mapping[str, Any]], Path]


def parse_seeds(text: str) -> tuple[int, ...]:
    """``dev``, ``test`` or a comma-separated list of integers."""
    named = {"dev": DEV_SEEDS, "test": TEST_SEEDS}
    if text in named:
        return named[text]
    return tuple(int(x) for x in text.split(",") if x.strip())


def parse_sets(assignments: list[str]) -> dict[str, Any]:
    """``detection.key=value`` strings into a mapping; values parsed as JSON when possible."""
    out: dict[str, Any] = {}
    for item in assignments:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set wants key=value, got {item!r}")
        key = key.strip().removeprefix("detection.")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def resolve_detector(name: str) -> tuple[str, Detector]:
    """The detector called ``name``, and the name it really is (``auto`` resolves)."""
    if name == "auto":
        try:
            importlib.import_module("monitor.detector.engine")
        except ImportError:
            logger.warning("monitor.detector.engine is not importable: using the naive detector")
            name = "naive"
        else:
            name = "engine"
    target = {
        "naive": "bench.detection.naive:detect",
        "engine": "bench.detection.engine_adapter:detect",
    }.get(name, name)
    module, sep, attr = target.partition(":")
    if not sep:
        raise ValueError(f"detector must be naive, engine, auto or module:function, not {name!r}")
    fn: Detector = getattr(importlib.import_module(module), attr)
    return name, fn


def run(
    seeds: tuple[int, ...],
    detect: Detector,
    overrides: Mapping[str, Any],
    work: Path,
    *,
    people: int = 40,
    days: int = 180,
) -> tuple[Figures, list[dict[str, Any]]]:
    """Pooled figures over ``seeds`` and one line of per-seed figures each."""
    pooled = Figures()
    per_seed = []
    for seed in seeds:
        t0 = time.perf_counter()
        obs, labels = generate(seed, work / f"seed-{seed}", people, days)
        t1 = time.perf_counter()
        alerts = detect(obs, overrides)
        t2 = time.perf_counter()
        fig = score_files(labels, alerts, obs)
        pooled.add(fig)
        s = summary(fig)
        per_seed.append(
            {
                "seed": seed,
                "recall_major": s["recall_major"],
                "false_per_series_month": s["false_per_series_month"],
                "delay_median_checks": s["delay_median_checks"],
                "incidents_clean": s["incidents_clean"],
                "nab_standard": s["nab"]["standard"],
                "generate_s": round(t1 - t0, 2),
                "detect_s": round(t2 - t1, 2),
            }
        )
    return pooled, per_seed


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; exit status 0 when every target passes."""
    p = argparse.ArgumentParser(prog="python -m bench.detection.run", description=__doc__)
    p.add_argument("--seeds", default="dev", help="dev, test, or e.g. 1,2,3 (default dev)")
    p.add_argument("--detector", default="auto")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--people", type=int, default=40)
    p.add_argument("--days", type=int, default=180)
    p.add_argument("--work", type=Path, help="keep corpora and alerts here (default: temp)")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    name, detect = resolve_detector(a.detector)
    seeds, overrides = parse_seeds(a.seeds), parse_sets(a.sets)
    with tempfile.TemporaryDirectory(prefix="bench-detection-") as tmp:
        work = a.work or Path(tmp)
        pooled, per_seed = run(seeds, detect, overrides, work, people=a.people, days=a.days)
    s = summary(pooled)
    if a.json:
        doc = {
            "detector": name,
            "seeds": seeds,
            "overrides": overrides,
            "per_seed": per_seed,
            "pooled": s,
        }
        print(json.dumps(jsonable(doc), indent=1, ensure_ascii=False))
    else:
        print(f"detector: {name}  seeds: {','.join(map(str, seeds))}  overrides: {overrides}")
        if name == "naive":
            print("(naive = REFERENCE detector without health gating, not the monitor's)")
        for row in per_seed:
            print("  " + "  ".join(f"{k}={v}" for k, v in row.items()))
        print(render(s))
    return 0 if all(ok for _, _, ok in check_targets(s)) else 1


if __name__ == "__main__":
    raise SystemExit(main())
