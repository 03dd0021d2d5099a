"""What a round is made of and comes to: a finished check (``Checked``), waiting to be
written with its round, and the line of the ``check`` table each one becomes (``CheckRow``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from monitor.core.observation import Observation
from monitor.detector.points import SeriesKey
from monitor.store.bodies import RawBody
from monitor.store.catalog import SeriesRef


@dataclass(frozen=True)
class CheckRow:
    """What one series' check in a round came to: one line of the table ``check`` prints."""

    person: str
    term: str
    source: str
    role: str
    status: str
    count: int | None
    baseline: float | None
    reason: str | None
    state: str
    snapshot_id: int | None


@dataclass(frozen=True)
class Checked:
    """A finished check, waiting to be written with the rest of its round."""

    ref: SeriesRef
    observation: Observation
    started_at: datetime
    finished_at: datetime
    raw: RawBody | None = None
    check_id: str | None = None  # cluster mode: the id the node made it under


def key_of(ref: SeriesRef) -> SeriesKey:
    """The detector's name for a stored series."""
    return SeriesKey(ref.person, ref.term, ref.source, ref.vantage)
