"""A deliberately naive REFERENCE detector: ratio to a rolling median, no health gating.

This is not the monitor's detector. It exists so that the scorer is demonstrably working
and so that the benchmark shows what the real detector must avoid: it reads a failed check
(captcha, rate limit, layout change, network error) as zero images, the way a scraper that
does not recognise a block page would; it has no minimum baseline, no robust z-score, no
controls and no common-mode test, so it alerts during captcha storms, layout changes and
engine incidents, and on tiny series.

Rule per series (person, source), control series skipped: keep the last ``window`` counts;
after ``min_history`` of them, alert ``drop`` when ``(x+1)/(median+1) <= drop_ratio`` on
``confirm`` consecutive checks, freezing the median; send ``recovered`` when the count is back
to ``recover_ratio`` of the frozen median on ``confirm`` consecutive checks.
"""

from __future__ import annotations

import logging
import statistics
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.detection.corpus import read_jsonl, write_jsonl

logger = logging.getLogger(__name__)

DEFAULTS: dict[str, float] = {
    "window": 56,  # checks: 14 days at 6 h
    "min_history": 8,
    "drop_ratio": 0.3,
    "recover_ratio": 0.7,
    "confirm": 2,
    # Off by default (that is the point of this detector); on, they show how much of its
    # failure comes from reading failed checks as zero and from tiny baselines.
    "skip_failed": 0,
    "min_baseline": 0,
}


@dataclass
class _State:
    history: deque[int]
    pending: int = 0
    frozen: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def run_naive(records: Any, settings: Mapping[str, float] | None = None) -> list[dict[str, Any]]:
    """Alerts of the naive detector over an iterable of observation records in time order."""
    p = {**DEFAULTS, **(settings or {})}
    window, confirm = int(p["window"]), int(p["confirm"])
    states: dict[tuple[str, str], _State] = {}
    alerts: list[dict[str, Any]] = []
    for r in records:
        if r.get("role") == "control":
            continue
        key = (r["person"], r["source"])
        st = states.get(key)
        if st is None:
            st = states[key] = _State(deque(maxlen=window))
        valid = r["status"] in ("ok", "no_results")
        if not valid and p["skip_failed"]:
            continue
        x = r["count"] if valid else 0  # no health gating: a captcha page reads as zero
        if st.frozen is not None:
            ratio = (x + 1) / (st.frozen + 1)
            st.pending = st.pending + 1 if ratio >= p["recover_ratio"] else 0
            if st.pending >= confirm:
                alerts.append(_alert(r, "recovered", x, st.frozen, ratio))
                st.frozen, st.pending = None, 0
        elif len(st.history) >= p["min_history"]:
            median = float(statistics.median(st.history))
            ratio = (x + 1) / (median + 1)
            low = ratio <= p["drop_ratio"] and median >= p["min_baseline"]
            st.pending = st.pending + 1 if low else 0
            if st.pending >= confirm:
                alerts.append(_alert(r, "drop", x, median, ratio))
                st.frozen, st.pending = median, 0
        st.history.append(x)
    return alerts


def _alert(r: dict[str, Any], event: str, x: int, baseline: float, ratio: float) -> dict[str, Any]:
    return {
        "event": event,
        "person": r["person"],
        "term": r["term"],
        "source": r["source"],
        "vantage": r.get("vantage"),
        "observed": x,
        "baseline": baseline,
        "ratio": round(ratio, 4),
        "classification": "single_source",
        "people_involved": [],
        "t": r["t"],
    }


def detect(observations: Path, settings: Mapping[str, Any]) -> Path:
    """The pluggable detector interface of ``run.py``: write alerts beside the input."""
    alerts = run_naive(read_jsonl(observations), settings)
    out = observations.with_name("alerts-naive.jsonl")
    write_jsonl(alerts, out)
    logger.info("naive detector: %d alerts -> %s", len(alerts), out)
    return out
