"""Engine incidents: is this round the engine's (or our scraper's) fault?

A round is *gated* when most of the source's controls failed or fell, or when many watched
people drop at once: at least max(incident_min_people, incident_fraction x the watched
people observed). People, not series: one person's names and aliases falling together are
one person's drop, never "many watched series on this source" (the ``person`` of each
``SeriesKey`` says whose series it is). Series held from an earlier gated round (see
``SourceHealth.held``) count as dropping while a round misses them. A gated round's watched
checks are used for nothing (like failed checks), and the first gated round with something
to explain raises one ``source_incident`` listing the people who seemed to drop, in case it
was a purge. The incident ends with the first round that is not gated.

Controls that merely *failed* gate the round silently, even if someone seems to drop in it:
the round cannot be trusted either way, the person's drop is judged in the next round whose
controls answer, and a captcha storm is ``source_unhealthy``'s business.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from monitor.detector import reasons
from monitor.detector.events import ControlReading, Event
from monitor.detector.health import SourceHealth
from monitor.detector.points import SeriesKey
from monitor.detector.settings import DetectionSettings

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Verdict:
    """Whether the round is gated, and the incident event it opens (if any)."""

    gated: bool
    event: Event | None = None


def judge_round(
    source: str,
    family: str,
    now: datetime,
    readings: Sequence[ControlReading],
    signals: set[SeriesKey],
    observed: set[SeriesKey],
    health: SourceHealth,
    s: DetectionSettings,
) -> Verdict:
    """Judge a round from its control readings and the watched series' drop signals.

    ``signals``: watched series whose valid check looks like a new drop; ``observed``:
    watched series with a valid check this round. Updates ``health`` (incident, held).
    """
    now_ts = now.timestamp()
    stale = s.seconds.stale_after
    for key, seen in list(health.held.items()):
        if now_ts - seen > stale:  # long unseen (removed from config?): stop counting it
            del health.held[key]
    unseen = {k for k in health.held if k not in observed}
    dropping = signals | unseen
    # Counted in people: a person dropping under three names is one person dropping.
    people_dropping = {k.person for k in dropping}
    people_checked = {k.person for k in observed | unseen}
    threshold = max(s.incident_min_people, s.incident_fraction * len(people_checked))
    mass = len(people_dropping) >= threshold
    n = len(readings)
    bad = sum(1 for r in readings if r.bad)
    fell = sum(1 for r in readings if r.bad and r.observed is not None)
    controls_bad = n > 0 and bad / n >= s.controls_bad_fraction
    controls_fell = n > 0 and fell / n >= s.controls_bad_fraction
    if not observed or not (controls_bad or mass):
        if observed:
            health.incident_open, health.incident_since = False, None
            for key in observed:  # judged on their own from now on
                health.held.pop(key, None)
        return Verdict(gated=False)

    for key in signals:
        health.held[key] = now_ts
    for key in observed - signals:
        health.held.pop(key, None)
    if health.incident_open or not (mass or controls_fell):
        return Verdict(gated=True)
    health.incident_open, health.incident_since = True, now_ts
    logger.info("%s: engine incident, %d people dropping at once", source, len(people_dropping))
    event = Event(
        event="source_incident",
        source=source,
        family=family,
        t=now,
        reason=reasons.incident_reason(
            readings, len(people_dropping), len(people_checked), threshold
        ),
        controls=tuple(readings),
        people_involved=tuple(sorted(people_dropping)),
    )
    return Verdict(gated=True, event=event)
