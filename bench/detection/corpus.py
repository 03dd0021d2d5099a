"""The shape of the benchmark corpus: sources, families, seeds, time grid and file formats.

Observations are JSON Lines in the backtest input format of issue 7, one check per line, in
time order::

    {"t": "2024-01-01T00:00:00+00:00", "person": "p01", "term": "王建国",
     "source": "baidu_images", "status": "ok", "count": 87, "reported_total": 41200,
     "domains": 31, "role": "watch"}

``count`` and ``domains`` are null unless ``status`` is ``ok`` or ``no_results`` (then 0);
``reported_total`` is present only for engines that report one and only for observations.

Labels are one JSON document (see ``generate.py`` for the fields). Alerts read by the scorer
are JSON Lines with the webhook payload's fields plus ``t``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# Thresholds are tuned on DEV_SEEDS only; the figures reported are on TEST_SEEDS.
DEV_SEEDS: tuple[int, ...] = (1, 2, 3)
TEST_SEEDS: tuple[int, ...] = (101, 102, 103)

# Source name -> independence family (detection.md 2.5): the Chinese engines move together,
# Bing stands for its licensees, the independents are outside China's reach.
SOURCES: dict[str, str] = {
    "baidu_images": "chinese",
    "sogou_images": "chinese",
    "so_images": "chinese",
    "bing_images": "bing",
    "wikimedia_commons": "independent",
    "gdelt": "independent",
    "google_cse": "google",
}
CHINESE: tuple[str, ...] = ("baidu_images", "sogou_images", "so_images")
# Distinct images parsed from the first pages: bounded, unlike the engines' totals.
CAPS: dict[str, int] = {
    "baidu_images": 200,
    "sogou_images": 150,
    "so_images": 150,
    "bing_images": 150,
    "wikimedia_commons": 200,
    "gdelt": 250,
    "google_cse": 100,
}
# Engines that print an "about N results" figure (never alerted on: detection.md 1.2).
HAS_TOTAL: frozenset[str] = frozenset(
    {"baidu_images", "sogou_images", "so_images", "bing_images", "google_cse"}
)
CONTROL_TERMS: tuple[str, ...] = ("大熊猫", "故宫", "长城")

START = datetime(2024, 1, 1, tzinfo=UTC)
CADENCE = timedelta(hours=6)
CHECKS_PER_DAY = 4
PROBATION_DAYS = 14  # no labelled onset before this; NAB does not score alerts in it
STATUSES: frozenset[str] = frozenset(
    {"ok", "no_results", "blocked", "http_error", "network_error", "parse_error"}
)
VALID_STATUSES: frozenset[str] = frozenset({"ok", "no_results"})
LABELS_FORMAT = "absence-bench-labels/1"


def iso(t: datetime) -> str:
    """ISO 8601 with the zone, the way every file of the benchmark writes time."""
    return t.isoformat()


def parse_t(s: str) -> datetime:
    """Parse an ISO 8601 time that must carry a zone."""
    t = datetime.fromisoformat(s)
    if t.tzinfo is None:
        raise ValueError(f"time without a zone: {s!r}")
    return t


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Yield the JSON objects of a JSON Lines file, skipping blank lines."""
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            obj = json.loads(line)
            if not isinstance(obj, dict):
                raise ValueError(f"{path}:{n}: not a JSON object")
            yield obj


def write_jsonl(records: Iterable[dict[str, Any]], path: Path) -> int:
    """Write records as compact JSON Lines (UTF-8, no ASCII escaping); return the count."""
    n = 0
    with path.open("w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False, separators=(",", ":")))
            f.write("\n")
            n += 1
    return n


def validate_record(r: dict[str, Any]) -> list[str]:
    """Problems with one observation record against the backtest input format ([] if none)."""
    problems: list[str] = []
    for key in ("t", "person", "term", "source", "status"):
        if not isinstance(r.get(key), str) or not r[key]:
            problems.append(f"{key} missing or not a string")
    if problems:
        return problems
    try:
        parse_t(r["t"])
    except ValueError as e:
        problems.append(str(e))
    status = r["status"]
    if status not in STATUSES:
        problems.append(f"unknown status {status!r}")
    count, domains = r.get("count"), r.get("domains")
    if status in VALID_STATUSES:
        if not isinstance(count, int) or count < 0:
            problems.append("an observation needs a non-negative integer count")
        elif status == "no_results" and count != 0:
            problems.append("no_results has count 0")
        if domains is not None and (not isinstance(domains, int) or domains < 0):
            problems.append("domains must be a non-negative integer")
        elif isinstance(domains, int) and isinstance(count, int) and domains > count:
            problems.append("more domains than images")
    else:
        if count is not None or domains is not None:
            problems.append("a failed check has null count and domains")
        if "reported_total" in r:
            problems.append("a failed check has no reported_total")
    if r.get("role", "watch") not in ("watch", "control"):
        problems.append(f"unknown role {r.get('role')!r}")
    return problems
