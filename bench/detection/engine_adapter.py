"""Run the monitor's own detector (``monitor.detector.Engine``) over a corpus file.

This is the ``engine`` detector of ``run.py``: it reads observation records, feeds them to
an in-memory ``Engine`` with the independence families of the benchmark's sources
(``corpus.SOURCES``; a ``labels.json`` beside the observations wins when it names them) and
writes every event the engine emits, as the webhook payload's fields plus ``t``, to
``alerts-engine.jsonl`` beside the input. Early re-checks cannot be replayed (the corpus
has only the scheduled checks), so the figures are those of a daemon without them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from bench.detection.corpus import SOURCES, parse_t, read_jsonl, write_jsonl
from monitor.alerts.events import episode_info, payload_of
from monitor.core.clock import iso_utc
from monitor.core.observation import Status
from monitor.detector import DetectionSettings, Engine, Point, SeriesKey
from monitor.detector.events import Event
from monitor.detector.points import Role

logger = logging.getLogger(__name__)


def points(records: Iterator[dict[str, Any]]) -> Iterator[tuple[SeriesKey, Role, Point]]:
    """Observation records as the engine's input."""
    for r in records:
        key = SeriesKey(r["person"], r["term"], r["source"], r.get("vantage") or "")
        role: Role = "control" if r.get("role") == "control" else "watch"
        point = Point(parse_t(r["t"]), Status(r["status"]), r.get("count"), r.get("domains"))
        yield key, role, point


def families_for(observations: Path) -> dict[str, str]:
    """Source families: the labels' when a ``labels.json`` lies beside the observations."""
    labels = observations.with_name("labels.json")
    if labels.exists():
        doc = json.loads(labels.read_text(encoding="utf-8"))
        return {**SOURCES, **doc.get("sources", {})}
    return dict(SOURCES)


def run_engine(
    records: Iterator[dict[str, Any]],
    settings: Mapping[str, Any] | None = None,
    families: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Every event the engine emits for ``records``, as payload dicts with ``t``."""
    engine = Engine(
        DetectionSettings().with_overrides(dict(settings or {})),
        families=families or SOURCES,
    )
    return [_as_dict(e) for e in engine.run(points(records))]


def _as_dict(event: Event) -> dict[str, Any]:
    """The alert payload of ``event`` (the one mapping, ``payload_of``), plus its ``t`` and
    ``family`` for the metrics."""
    payload = payload_of(
        event,
        alert_id=0,
        episode=episode_info(event, episode_id=0),
        vanished=[],
    )
    return {**payload, "t": iso_utc(event.t), "family": event.family}


def detect(observations: Path, settings: Mapping[str, Any]) -> Path:
    """The pluggable detector interface of ``run.py``: write alerts beside the input."""
    alerts = run_engine(read_jsonl(observations), settings, families_for(observations))
    out = observations.with_name("alerts-engine.jsonl")
    write_jsonl(alerts, out)
    logger.info("engine: %d events -> %s", len(alerts), out)
    return out
