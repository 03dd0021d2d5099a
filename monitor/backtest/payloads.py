"""What a backtest alert carries: the webhook payload of a detector event, built without a
database.

``Payloads`` numbers alerts and episodes as they come (``alert_id`` and ``episode.id`` are
running numbers, since there is no outbox) and, when the input gave image URLs, fills
``vanished_images`` the way ``monitor.store.evidence`` does for the daemon: the images of the
series' last ``ok`` check before the first confirming check, minus those of the last
confirming check, each with its first and last sighting in the series and the other sources
whose latest valid result of the same person still has it. Without image URLs the list is
empty. Unlike the daemon, a check of a round that was blamed on the engine can serve as the
"before" check (the in-memory engine does not say which rounds it gated).

Memory stays bounded per series: the last few valid checks' image sets, the latest one, and
the first sighting of every image the series returned.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from monitor.alerts.events import payload_of
from monitor.alerts.payload import vanished_image
from monitor.alerts.people import Group, Standing, group_events
from monitor.alerts.schema import AlertPayload, EpisodeInfo, VanishedImage
from monitor.alerts.vantages import VantageReading
from monitor.backtest.records import Record
from monitor.core.clock import iso_utc
from monitor.core.observation import ImageItem, Status
from monitor.detector.events import Event, from_ts
from monitor.detector.points import SeriesKey
from monitor.detector.settings import DetectionSettings
from monitor.store.evidence import MAX_VANISHED

logger = logging.getLogger(__name__)

# Valid checks kept per series beyond the longest confirmation: room for the checks of
# gated rounds that can sit between the "before" check and the confirming ones.
SPARE_CHECKS = 16
# Confirmation times are epoch floats turned back into datetimes: allow for rounding.
SAME_TIME_S = 1e-3


@dataclass(slots=True)
class _SeriesImages:
    recent: deque[tuple[float, frozenset[str]]]  # (time, images) of recent ok checks
    latest: frozenset[str] = frozenset()  # images of the latest valid check
    # url -> (first sighting, order of first sighting): ordered like the daemon's image ids
    first_seen: dict[str, tuple[float, int]] = field(default_factory=dict)


class ImageTracker:
    """Remembers the image URLs each series returned, to list what vanished in a drop."""

    def __init__(self, settings: Iterable[DetectionSettings]) -> None:
        self.depth = SPARE_CHECKS + max(
            (
                max(s.confirm_checks, s.partial_exit_checks, s.tiny_no_results_checks)
                for s in settings
            ),
            default=1,
        )
        self.series: dict[SeriesKey, _SeriesImages] = {}
        self.people: dict[str, set[SeriesKey]] = {}

    def note(self, record: Record) -> None:
        """Remember the images of a valid check (a record without ``images`` is ignored)."""
        images, point = record.images, record.point
        if images is None or not point.valid:
            return
        key = record.key
        entry = self.series.get(key)
        if entry is None:
            entry = self.series[key] = _SeriesImages(deque(maxlen=self.depth))
            self.people.setdefault(key.person, set()).add(key)
        ts = point.t.timestamp()
        seen = frozenset(images)
        entry.latest = seen
        if point.status is Status.OK:
            entry.recent.append((ts, seen))
        first = entry.first_seen
        for url in images:
            if url not in first:
                first[url] = (ts, len(first))

    def vanished(self, event: Event) -> list[VanishedImage]:
        """The ``vanished_images`` of a drop or partial event ([] when nothing is known)."""
        if event.event not in ("drop", "partial") or event.person is None or not event.confirming:
            return []
        key = SeriesKey(event.person, event.term or "", event.source, event.vantage or "")
        entry = self.series.get(key)
        if entry is None:
            return []
        times = [c.t.timestamp() for c in event.confirming]
        first, last = min(times), max(times)
        before = next((e for e in reversed(entry.recent) if e[0] < first - SAME_TIME_S), None)
        current = next(
            (e[1] for e in reversed(entry.recent) if abs(e[0] - last) <= SAME_TIME_S), frozenset()
        )
        if before is None:
            return []
        gone = before[1] - current
        still: dict[str, list[str]] = {}
        for other in self.people.get(key.person, ()):
            if other.source != key.source:
                for url in self.series[other].latest & gone:
                    still.setdefault(url, []).append(other.source)
        first_seen = entry.first_seen
        ordered = sorted(gone, key=lambda u: first_seen[u])[:MAX_VANISHED]
        return [
            vanished_image(
                ImageItem(url),
                from_ts(first_seen[url][0]),
                from_ts(before[0]),
                still.get(url, ()),
            )
            for url in ordered
        ]


class Payloads:
    """Turns detector events into numbered alert payloads (``alert_id`` from 1), one per
    person alert as the daemon queues them (``monitor.alerts.people``)."""

    def __init__(self, images: ImageTracker) -> None:
        self.images = images
        self.alerts = 0
        self.episodes = 0
        self._open: dict[tuple[str, str | None, str | None, str | None], int] = {}
        # Per person on a source: terms back while another was still down (episode, when).
        self._back: dict[tuple[str, str | None, str | None], dict[str, tuple[int, datetime]]] = {}

    def payloads(
        self,
        events: Sequence[Event],
        quiet: Callable[[Group], Sequence[Standing]],
        vantages: Callable[[Group], Sequence[VantageReading]] = lambda _: (),
    ) -> list[AlertPayload]:
        """The payloads the daemon would have queued for the events of one round (per
        source); ``quiet`` gives the person's unchanged terms on the source, ``vantages``
        the person's series on it from the other vantages."""
        out = []
        for group in group_events(events):
            payload = self.payload(group, quiet(group), vantages(group))
            if payload is not None:
                out.append(payload)
        return out

    def payload(
        self,
        group: Group,
        quiet: Sequence[Standing] = (),
        vantages: Sequence[VantageReading] = (),
    ) -> AlertPayload | None:
        """The payload of one group, or None when the person is in an episode already (a
        drop of another term) or still is (a recovery while another term is down)."""
        head = group[0]
        terms = {e.term for e in group}
        if head.event == "drop" and self._person_open(head, terms):
            self._episodes(group)
            return None
        numbers = self._episodes(group)
        person = (head.source, head.person, head.vantage)
        if head.event == "recovered" and self._person_open(head, terms):
            back = self._back.setdefault(person, {})
            for e, n in zip(group, numbers, strict=True):
                if e.term and n:
                    back[e.term] = (n["id"], e.t)
            return None
        if head.event in ("partial", "recovered"):
            quiet = self._in_episode(head, quiet)
        if head.event in ("drop", "recovered"):
            self._back.pop(person, None)  # a new episode, or the end of this one
        self.alerts += 1
        vanished = {e.term or "": self.images.vanished(e) for e in group}
        return payload_of(
            group,
            alert_id=self.alerts,
            episode=numbers[0] if numbers else None,
            vanished=vanished,
            episodes={
                e.term: n["id"] if n else None
                for e, n in zip(group, numbers, strict=True)
                if e.term
            },
            quiet=quiet,
            vantages=vantages,
        )

    def _in_episode(self, head: Event, quiet: Sequence[Standing]) -> list[Standing]:
        """``quiet`` with the person's episode marked as the daemon does: each term's open
        episode, and the terms that recovered while another was still down."""
        back = self._back.get((head.source, head.person, head.vantage), {})
        out = []
        for q in quiet:
            term = q.figures.term
            number = self._open.get((head.source, head.person, term, head.vantage))
            if number is not None:
                out.append(q._replace(episode_id=number))
            elif term in back:
                out.append(q._replace(episode_id=back[term][0], recovered_at=back[term][1]))
            else:
                out.append(q)
        return out

    def _person_open(self, head: Event, besides: set[str | None]) -> bool:
        return any(
            k[0] == head.source
            and k[1] == head.person
            and k[3] == head.vantage
            and k[2] not in besides
            for k in self._open
        )

    def _episodes(self, group: Group) -> list[EpisodeInfo | None]:
        return [self._episode(e) for e in group]

    def _episode(self, event: Event) -> EpisodeInfo | None:
        """The series' episode, numbered when it opens and forgotten when it resolves."""
        if event.episode_start is None:
            return None
        key = (event.source, event.person, event.term, event.vantage)
        number = self._open.get(key)
        if number is None:
            self.episodes += 1
            number = self._open[key] = self.episodes
        if event.episode_state == "resolved":
            del self._open[key]
        return EpisodeInfo(
            id=number,
            started_at=iso_utc(event.episode_start),
            state=event.episode_state or "open",
        )
