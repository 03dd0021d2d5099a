"""An in-memory detector for replays: the scenario suite, the backtest, the benchmark.

Feed it time-ordered records ``(SeriesKey, role, Point)``; it groups them into rounds per
source and runs each round through ``process_round`` exactly as the daemon does, keeping
every series' state in memory (O(window) each) and serving as its own ``PeerView``.

Rounds: the records of one source belong to the same round while each comes within
``round_gap`` (default 30 minutes) of the previous record of that source and no series
repeats. A daemon round of 40 queries at one request per 5 s spans about 4 minutes; a
re-check comes ``recheck_after`` (45 minutes) later, so it forms a round of its own. A round
is closed (and its events returned) as soon as a record shows it must be over: a record of
the same source that does not fit, or any record more than ``round_gap`` after the round's
last one. ``finish()`` closes the rest.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from monitor.core.clock import iso_utc
from monitor.detector.corroboration import sort_peers, summarize
from monitor.detector.events import Event, PeerSummary
from monitor.detector.health import SourceHealth
from monitor.detector.points import Point, Role, RoundInput, SeriesKey
from monitor.detector.rounds import process_round
from monitor.detector.settings import DetectionSettings
from monitor.detector.state import SeriesState

logger = logging.getLogger(__name__)

RecheckHook = Callable[[SeriesKey, datetime], None]


@dataclass(slots=True)
class _OpenRound:
    items: list[RoundInput] = field(default_factory=list)
    keys: set[SeriesKey] = field(default_factory=set)
    last_ts: float = -math.inf
    last_t: datetime | None = None


class Engine:
    """Replays records through the detector; also the ``PeerView`` of its own states.

    ``families`` maps source names to independence families (``chinese``, ``bing``,
    ``google``, ``independent``; unknown sources count as ``independent``, like the
    ``Source`` default). ``source_settings`` holds per-source settings (overrides applied).
    ``on_recheck(key, at)`` is told when the daemon would re-check a series early.
    """

    def __init__(
        self,
        settings: DetectionSettings | None = None,
        *,
        families: Mapping[str, str] | None = None,
        source_settings: Mapping[str, DetectionSettings] | None = None,
        round_gap: timedelta = timedelta(minutes=30),
        on_recheck: RecheckHook | None = None,
    ) -> None:
        self.settings = settings or DetectionSettings()
        self.families = dict(families or {})
        self.source_settings = dict(source_settings or {})
        self.round_gap = round_gap.total_seconds()
        self.on_recheck = on_recheck
        self.states: dict[SeriesKey, SeriesState] = {}
        # Per source, the series its latest closed round checked (for alerts' "this round").
        self.last_round: dict[str, frozenset[SeriesKey]] = {}
        self.health: dict[str, SourceHealth] = {}
        self.observations = 0
        self.rounds = 0
        self._open: dict[str, _OpenRound] = {}
        self._watched: dict[str, list[SeriesKey]] = {}  # person -> watched series (peers)
        self._seen: set[SeriesKey] = set()
        self._last_ts = -math.inf
        self._deadline = math.inf  # no open round can be overdue before this time

    def family_of(self, source: str) -> str:
        """The independence family of ``source``."""
        return self.families.get(source, "independent")

    def settings_for(self, source: str) -> DetectionSettings:
        """The settings ``source`` runs with."""
        return self.source_settings.get(source, self.settings)

    def feed(self, key: SeriesKey, role: Role, point: Point) -> list[Event]:
        """Add one record; the events of any round it closes. Raises ``ValueError`` if
        time goes backwards."""
        ts = point.t.timestamp()
        if ts < self._last_ts:
            raise ValueError(f"records must be in time order: {iso_utc(point.t)} is earlier")
        self._last_ts = ts
        self.observations += 1
        if key not in self._seen:
            self._seen.add(key)
            if role == "watch":
                self._watched.setdefault(key.person, []).append(key)
        events: list[Event] = []
        if ts - self._deadline > 0:
            events = self._close_overdue(ts, keep=key.source)
        r = self._open.get(key.source)
        if r is not None and (ts - r.last_ts > self.round_gap or key in r.keys):
            events.extend(self._close(key.source))
            r = None
        if r is None:
            r = self._open[key.source] = _OpenRound()
        r.items.append(RoundInput(key, role, point))
        r.keys.add(key)
        r.last_ts, r.last_t = ts, point.t
        self._deadline = min(self._deadline, ts + self.round_gap)
        return events

    def advance(self, now: datetime) -> list[Event]:
        """Close the rounds that are over by ``now`` (their last record is more than
        ``round_gap`` earlier); their events. A simulator calls this before deciding what
        to check next, so a re-check asked for by a closing round can still be scheduled.
        """
        ts = now.timestamp()
        if ts - self._deadline > 0:
            return self._close_overdue(ts, keep=None)
        return []

    def finish(self) -> list[Event]:
        """Close every open round; their events."""
        events: list[Event] = []
        for source in sorted(self._open, key=lambda s: self._open[s].last_ts):
            events.extend(self._close(source))
        self._deadline = math.inf
        return events

    def run(self, records: Iterable[tuple[SeriesKey, Role, Point]]) -> list[Event]:
        """Feed all ``records`` then ``finish``; every event in order."""
        events: list[Event] = []
        for key, role, point in records:
            events.extend(self.feed(key, role, point))
        events.extend(self.finish())
        return events

    def peers_of(self, person: str, source: str) -> Sequence[PeerSummary]:
        """The person's watched series on other sources, as they stand now."""
        return sort_peers(
            summarize(k, self.family_of(k.source), self.states[k])
            for k in self._watched.get(person, ())
            if k.source != source and k in self.states
        )

    def _close_overdue(self, ts: float, keep: str | None) -> list[Event]:
        events: list[Event] = []
        overdue = [
            s for s, r in self._open.items() if s != keep and ts - r.last_ts > self.round_gap
        ]
        for source in sorted(overdue, key=lambda s: self._open[s].last_ts):
            events.extend(self._close(source))
        self._deadline = min((r.last_ts for r in self._open.values()), default=math.inf)
        self._deadline += self.round_gap
        return events

    def _close(self, source: str) -> list[Event]:
        r = self._open.pop(source)
        assert r.last_t is not None
        settings = self.settings_for(source)
        health = self.health.get(source)
        if health is None:
            health = self.health[source] = SourceHealth()
        out = process_round(
            source,
            self.family_of(source),
            r.items,
            self.states,
            health,
            settings,
            peers=self,
            now=r.last_t,
        )
        self.rounds += 1
        self.states.update(out.states)
        self.last_round[source] = frozenset(out.states)
        if self.on_recheck is not None:
            at = r.last_t + settings.recheck_after
            for key in out.rechecks:
                self.on_recheck(key, at)
        return out.events
