"""Score a detector's alerts against a labelled corpus and check the targets of issue 7.

Usage::

    python -m bench.detection.score --labels L --alerts A --observations O [--json]

``A`` is JSON Lines, one alert per line, with the webhook payload's fields (``event``,
``person``, ``term``, ``source``, ``vantage``, ``observed``, ``baseline``, ``ratio``,
``classification``, ``people_involved``) plus ``t``, the time of the check that triggered
it. ``O`` (the corpus's observations) is needed to count delays in *valid* checks. The
exit status is 0 when every target passes, 1 otherwise. Metric definitions: ``metrics.py``.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.detection.corpus import read_jsonl
from bench.detection.metrics import Figures, compute, valid_times


def _ratio(a: float, b: float) -> float:
    return a / b if b else math.nan


def percentile(values: list[int] | list[float], q: float) -> float:
    """Nearest-rank percentile (NaN for no values): p90 of 10 values is the 9th smallest."""
    if not values:
        return math.nan
    s = sorted(values)
    return float(s[max(0, math.ceil(q * len(s)) - 1)])


def summary(fig: Figures) -> dict[str, Any]:
    """The headline figures as a flat dict (what ``--json`` prints)."""
    inc_n = sum(v[0] for v in fig.incidents.values())
    inc_clean = sum(v[1] for v in fig.incidents.values())
    inc_flag = sum(v[2] for v in fig.incidents.values())
    judged = fig.true_alerts + fig.false_alerts
    return {
        "events_major": fig.major[0],
        "recall_major": _ratio(fig.major[1], fig.major[0]),
        "recall_all_incl_minor": _ratio(fig.every[1], fig.every[0]),
        "recall_by_type": {k: _ratio(v[1], v[0]) for k, v in sorted(fig.by_type.items())},
        "recall_series": _ratio(fig.pairs[1], fig.pairs[0]),
        "false_alerts": fig.false_alerts,
        "series_months": round(fig.series_months, 1),
        "false_per_series_month": _ratio(fig.false_alerts, fig.series_months),
        "false_by_cause": dict(sorted(fig.false_by_cause.items())),
        "precision": _ratio(fig.true_alerts, judged),
        "delay_median_checks": percentile(fig.delays, 0.5),
        "delay_p90_checks": percentile(fig.delays, 0.9),
        "delay_median_hours": percentile(fig.delay_hours, 0.5),
        "classification_accuracy": _ratio(fig.classification[1], fig.classification[0]),
        "recoveries": fig.recoveries[0],
        "recoveries_within_2": _ratio(fig.recoveries[1], fig.recoveries[0]),
        "recoveries_right_kind": _ratio(fig.recoveries[2], fig.recoveries[0]),
        "engine_incidents": inc_n,
        "incidents_clean": _ratio(inc_clean, inc_n),
        "incidents_flagged": _ratio(inc_flag, inc_n),
        "incidents_by_kind": {
            k: {"n": v[0], "clean": _ratio(v[1], v[0]), "flagged": _ratio(v[2], v[0])}
            for k, v in sorted(fig.incidents.items())
        },
        "nab": {k: round(raw.normalised, 1) for k, raw in fig.nab.items()},
    }


Target = tuple[str, str, Callable[[dict[str, Any]], bool]]
# The targets of issue 7, to be met with the default settings on the test seeds.
TARGETS: tuple[Target, ...] = (
    ("recall of major events >= 0.98", "recall_major", lambda s: s["recall_major"] >= 0.98),
    (
        "false alerts per series-month <= 0.005",
        "false_per_series_month",
        lambda s: s["false_per_series_month"] <= 0.005,
    ),
    (
        "delay median <= 1 valid check",
        "delay_median_checks",
        lambda s: s["delay_median_checks"] <= 1,
    ),
    ("delay p90 <= 3 valid checks", "delay_p90_checks", lambda s: s["delay_p90_checks"] <= 3),
    (
        "no person alerts in >= 95% of engine incidents",
        "incidents_clean",
        lambda s: s["incidents_clean"] >= 0.95,
    ),
    (
        "recoveries reported within 2 valid checks >= 0.9",
        "recoveries_within_2",
        lambda s: s["recoveries_within_2"] >= 0.9,
    ),
)


def check_targets(s: dict[str, Any]) -> list[tuple[str, float, bool]]:
    """(target, value, passed) for every target; NaN never passes."""
    return [(name, s[key], bool(ok(s))) for name, key, ok in TARGETS]


def render(s: dict[str, Any]) -> str:
    """A plain-text table of the figures followed by PASS/FAIL lines."""

    def f(v: Any) -> str:
        return f"{v:.4f}" if isinstance(v, float) else str(v)

    rows = [(k, v) for k, v in s.items() if not isinstance(v, dict)]
    lines = [f"{k:<28} {f(v)}" for k, v in rows]
    lines.append("recall by type:")
    lines += [f"  {k:<26} {f(v)}" for k, v in s["recall_by_type"].items()]
    lines.append("false alerts by cause:")
    lines += [f"  {k:<26} {v}" for k, v in s["false_by_cause"].items()] or ["  (none)"]
    lines.append("engine incidents by kind:  n  clean  flagged")
    lines += [
        f"  {k:<22} {v['n']:>4}  {f(v['clean'])}  {f(v['flagged'])}"
        for k, v in s["incidents_by_kind"].items()
    ]
    lines.append("NAB (normalised, 100 = perfect, 0 = no detections):")
    lines += [f"  {k:<26} {v}" for k, v in s["nab"].items()]
    lines += [
        f"{'PASS' if ok else 'FAIL'} {name} ({f(value)})" for name, value, ok in check_targets(s)
    ]
    return "\n".join(lines)


def jsonable(v: Any) -> Any:
    """``v`` with NaN (a ratio with nothing to count) turned into null, which JSON has."""
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, dict):
        return {k: jsonable(x) for k, x in v.items()}
    return v


def score_files(labels: Path, alerts: Path, observations: Path) -> Figures:
    """Score one corpus from its files."""
    doc = json.loads(labels.read_text(encoding="utf-8"))
    return compute(doc, list(read_jsonl(alerts)), valid_times(read_jsonl(observations)))


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    p = argparse.ArgumentParser(prog="python -m bench.detection.score", description=__doc__)
    p.add_argument("--labels", type=Path, required=True)
    p.add_argument("--alerts", type=Path, required=True)
    p.add_argument("--observations", type=Path, required=True)
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    a = p.parse_args(argv)
    s = summary(score_files(a.labels, a.alerts, a.observations))
    print(json.dumps(jsonable(s), indent=1, ensure_ascii=False) if a.json else render(s))
    return 0 if all(ok for _, _, ok in check_targets(s)) else 1


if __name__ == "__main__":
    raise SystemExit(main())
