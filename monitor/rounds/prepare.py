"""What a round's write transaction needs, read and computed before it.

``read_round`` reads, in an ordinary (deferred, lock-free) session, the source's latest
round id (the ``marker``), then plans the round's snapshots (``store.snapshot_batch``: image
keys, set digests, which images left), the series' kept healthy bodies, their stored
detector states (and builds them) and their names (what the snapshot log chains).
``RoundCommit`` then opens the write transaction, locks the source's row and compares the
marker: unchanged, nothing any of this depends on changed (every write of a source's
series comes with a round row), and the transaction only writes; moved (another writer
stored a round of the same source in between), it calls ``read_round`` again inside the
transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from monitor.detector.settings import DetectionSettings
from monitor.detector.state import SeriesState
from monitor.store import rounds as stored
from monitor.store import snapshot_log
from monitor.store.bodies import KeptRow, healthy_rows
from monitor.store.snapshot_batch import NewSnapshot, SnapshotPlan, plan_snapshots
from monitor.store.snapshot_log import SeriesName


@dataclass(frozen=True, slots=True)
class RoundSettings:
    """The parts of the config a round's reads depend on."""

    detection: DetectionSettings
    keep_raw: bool


def read_round(
    session: Session, source: str, checks: list[NewSnapshot], settings: RoundSettings
) -> Read:
    """Read and compute what the round of ``source`` will write (see module docstring)."""
    marker = stored.last_round_id(session, source)  # first: whatever follows is as new
    series_ids = [c.series_id for c in checks]
    plan = plan_snapshots(session, checks)
    healthy = healthy_rows(session, series_ids) if settings.keep_raw else {}
    data = stored.stored_states(session, series_ids)
    names = snapshot_log.series_names(session, series_ids)
    return Read(marker, plan, healthy, data, settings.detection, names)


@dataclass
class Read:
    """A round's reads (``read_round``) as of the source's latest round ``marker``."""

    marker: int | None
    plan: SnapshotPlan
    healthy: dict[int, list[KeptRow]]
    stored: dict[int, Any]
    settings: DetectionSettings
    names: dict[int, SeriesName]  # each series' person, term, source, vantage (the log's)
    _ready: dict[int, SeriesState] | None = None

    def __post_init__(self) -> None:
        self._ready = self._build()

    def states(self) -> dict[int, SeriesState]:
        """Detector states to step, by series id (a series never judged starts fresh):
        built before the transaction for its first run, built again for a transaction run
        again after a collision (the detector changes them in place)."""
        ready, self._ready = self._ready, None
        return _Fresh(ready if ready is not None else self._build(), self.settings)

    def _build(self) -> dict[int, SeriesState]:
        return {sid: stored.state_of(d, self.settings) for sid, d in self.stored.items()}


class _Fresh(dict[int, SeriesState]):
    """States by series id; a series with no stored row starts a fresh state."""

    def __init__(self, states: dict[int, SeriesState], settings: DetectionSettings) -> None:
        super().__init__(states)
        self.settings = settings

    def __missing__(self, series_id: int) -> SeriesState:
        return self.setdefault(series_id, SeriesState.new(self.settings))
