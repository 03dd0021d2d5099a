"""What the report and the overview page show, read from the database (no HTML here).

- ``person_view(session, config, name)``: a person's series (points, episodes, alert marks,
  current state, the source's interval), the controls of the sources they are watched on,
  their alerts, their story (``story.py``: one line per episode) and the images that
  vanished in each alerted episode (``vanished.py``).

Failed checks stay failed: a ``CheckPoint`` of a failed check has ``count=None`` and the chart
draws it as a gap and a mark, never as zero. Lists are bounded (``MAX_POINTS`` per series,
``MAX_ALERTS`` per person, ``MAX_OUTAGES`` source outages in a story) so that a years-old
database still gives a readable page.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from sqlalchemy.orm import Session

from monitor.config import Config
from monitor.core.errors import MonitorError
from monitor.core.observation import OBSERVATION_VALUES
from monitor.detector.state import STATE_VERSION, SeriesState
from monitor.report.marks import AlertMark, EpisodeSpan
from monitor.report.story import StoryLine, mark_of, story_lines
from monitor.report.vanished import EpisodeGallery, episode_galleries
from monitor.store import report_reads as reads
from monitor.store.catalog import control_person_name
from monitor.store.vantage_reads import known_vantages

logger = logging.getLogger(__name__)

MAX_POINTS = 1500
MAX_ALERTS = 200
MAX_OUTAGES = 10  # source-wide episodes in a person's story, the latest


@dataclass(frozen=True, slots=True)
class CheckPoint:
    """One check: ``count`` is None for a failed check (a gap, never zero)."""

    snapshot_id: int
    t: datetime
    status: str
    count: int | None
    reason: str | None
    excluded: bool  # part of an engine incident: not an observation of the person

    @property
    def failed(self) -> bool:
        return self.status not in OBSERVATION_VALUES


@dataclass
class SeriesView:
    """One series with its recent checks and the detector's view of it."""

    series_id: int
    person: str
    term: str
    source: str
    vantage: str
    role: str
    points: list[CheckPoint] = field(default_factory=list)
    total_checks: int = 0
    spans: list[EpisodeSpan] = field(default_factory=list)
    alerts: list[AlertMark] = field(default_factory=list)
    detector_status: str | None = None
    baseline: float | None = None
    stale: bool = False
    interval: timedelta | None = None  # the source's schedule: a longer silence is a gap
    show_vantage: bool = False  # the database holds more than one vantage: say which

    @property
    def last(self) -> CheckPoint | None:
        return self.points[-1] if self.points else None

    @property
    def last_valid(self) -> CheckPoint | None:
        return next((p for p in reversed(self.points) if not p.failed), None)

    @property
    def failures(self) -> int:
        return sum(p.failed for p in self.points)

    @property
    def term_label(self) -> str:
        """The term, with its vantage when there are several: ``董经纬 (cn-beijing)``."""
        return f"{self.term} ({self.vantage})" if self.show_vantage else self.term

    @property
    def label(self) -> str:
        return f"{self.term_label} @ {self.source}"


@dataclass
class PersonView:
    """Everything the report shows about one person."""

    name: str
    role: str
    notes: str
    series: list[SeriesView]
    controls: list[SeriesView]
    alerts: list[AlertMark]
    story: list[StoryLine]
    galleries: list[EpisodeGallery]
    outages_not_shown: int = 0  # source-wide episodes older than the MAX_OUTAGES shown

    @property
    def time_range(self) -> tuple[datetime, datetime] | None:
        times = [p.t for s in self.series + self.controls for p in s.points]
        times += [a.t for a in self.alerts]
        return (min(times), max(times)) if times else None


def known_people(session: Session) -> list[str]:
    """Watched people in the database (controls are shown with them, not alone)."""
    return [name for _, name in reads.watched_people(session)]


def person_view(session: Session, config: Config, name: str) -> PersonView:
    """The report data of ``name``; ``MonitorError`` when there is no such person."""
    person = reads.person_named(session, name)
    if person is None:
        known = ", ".join(known_people(session)[:10]) or "none yet"
        raise MonitorError(f"no person named {name!r} in the database (known: {known})")
    series = series_views(session, config, [person.person_id], MAX_POINTS, spans=True)
    sources = sorted({s.source for s in series})
    control_ids = reads.person_ids(session, [control_person_name(s) for s in sources])
    controls = series_views(session, config, control_ids, MAX_POINTS, spans=True)
    alerts = _alerts(session, person.person_id, series + controls)
    # Source-wide episodes are in every series' spans of their source: each one once.
    wide = {s.episode_id: s for v in series for s in v.spans if s.source_wide}
    # A source that failed often would bury the person's story: its latest outages only.
    outages = sorted(wide.values(), key=lambda s: (s.start, s.episode_id))
    story = story_lines(session, person.person_id, outages[-MAX_OUTAGES:])
    galleries = episode_galleries(session, story, [s.series_id for s in series])
    return PersonView(
        person.name,
        person.role,
        person.notes,
        series,
        controls,
        alerts,
        story,
        galleries,
        max(len(outages) - MAX_OUTAGES, 0),
    )


def series_views(
    session: Session, config: Config, person_ids: Sequence[int], limit: int, *, spans: bool
) -> list[SeriesView]:
    """The series of ``person_ids`` (by source, term, vantage), each with its latest
    ``limit`` checks and the detector's view, and with its episodes when ``spans``; each
    names its vantage when the database holds more than one."""
    views = []
    several = len(known_vantages(session)) > 1
    for row in reads.series_rows(session, person_ids):
        view = SeriesView(row.series_id, row.person, row.term, row.source, row.vantage, row.role)
        view.show_vantage = several
        view.points, view.total_checks = points(session, row.series_id, limit)
        view.detector_status, view.baseline, view.stale = detector_summary(
            config, row.source, row.detector_state
        )
        options = config.sources.get(row.source)
        view.interval = options.every if options is not None else typical_interval(view.points)
        if spans:
            view.spans = [
                EpisodeSpan(
                    e.episode_id,
                    e.kind,
                    e.state,
                    e.opened_at,
                    e.closed_at,
                    e.baseline,
                    e.metric,
                    e.series_id is None,
                    row.source,
                )
                for e in reads.episode_rows(session, row.series_id, row.source_id)
            ]
        views.append(view)
    return views


def typical_interval(checks: Sequence[CheckPoint]) -> timedelta | None:
    """The median time between consecutive checks: the schedule of a source that is no
    longer in the config (None with fewer than three intervals to judge from)."""
    steps = sorted(b.t - a.t for a, b in pairwise(checks))
    return steps[len(steps) // 2] if len(steps) >= 3 else None


def points(session: Session, series_id: int, limit: int) -> tuple[list[CheckPoint], int]:
    """The latest ``limit`` checks, oldest first, and how many checks there are in all."""
    rows, total = reads.recent_checks(session, series_id, limit)
    return [
        CheckPoint(r.snapshot_id, r.finished_at, r.status, r.image_count, r.reason, r.excluded)
        for r in rows
    ], total


def _alerts(session: Session, person_id: int, views: list[SeriesView]) -> list[AlertMark]:
    """The person's alerts, and source-wide ones on their sources; newest last."""
    rows = reads.person_alerts(session, person_id, [v.series_id for v in views], MAX_ALERTS)
    marks = [mark_of(a) for a in rows]
    by_series = {v.series_id: v for v in views}
    for mark in marks:
        if mark.series_id in by_series:
            by_series[mark.series_id].alerts.append(mark)
        elif mark.series_id is None:
            for v in views:
                if v.source == mark.source:
                    v.alerts.append(mark)
    return marks


def detector_summary(
    config: Config, source: str, data: dict[str, Any] | None
) -> tuple[str | None, float | None, bool]:
    """(status, baseline, stale) from a series' stored detector state, when readable.

    The baseline is the one the detector judges against: the frozen one of an open episode,
    else the lower of the short- and long-window medians.
    """
    if not data or data.get("version") != STATE_VERSION:
        return None, None, False
    try:
        state = SeriesState.from_dict(data, config.detection_for(source))
    except Exception as exc:  # a state written by another version must not break a page
        logger.warning("detector state of a %s series is unreadable: %s", source, exc)
        return None, None, False
    baseline: float | None = None
    if state.episode is not None:
        baseline = state.episode.baseline
    elif state.sufficient and len(state.short) and len(state.long):
        baseline = min(state.short.counts_median(), state.long.counts_median())
    return state.status, baseline, state.stale
