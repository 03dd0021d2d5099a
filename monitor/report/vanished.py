"""The vanished images of a person, for the report's gallery: one group per alerted episode.

What counts as vanished is what an alert said vanished: the ``vanished_images`` of the
drop and partial alerts of an episode of the person's story (``story.StoryLine``), merged
per image (an image lost under two names is one entry naming both). So:

- only alerted episodes have a gallery; a person never alerted has none, though images
  come and go from an engine's results every day;
- images that left the results when the real ones came back (e.g. the state-media
  pictures an engine showed instead during the drop) are not vanished: no alert listed
  them;
- each image is filed under the names that lost it (the payload's ``terms``), never under
  the alert's headline name alone.

Each entry says where the image is now: the person's other sources whose latest result set
holds the same URL, the sources showing the same photo under another URL (kept
thumbnails), whether this source shows it again (``back``), and the Internet Archive's
confirmed copy of its page, if one was made (``evidence.archive.wayback``). At most ``MAX_VANISHED``
entries per episode, with the total so the page can say how many are not shown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from monitor.core.clock import parse_iso
from monitor.core.urls import normalize_url
from monitor.report.story import StoryLine
from monitor.store.archive import archived_pages
from monitor.store.report_reads import alerts_by_id
from monitor.store.thumbnails import same_photo_elsewhere
from monitor.store.vanished_reads import image_ids, sources_showing

MAX_VANISHED = 300


@dataclass
class VanishedView:
    """An image gone from one source in an alerted episode, and where it is now."""

    image_id: int | None
    image_url: str
    thumb_url: str | None
    page_url: str | None
    title: str | None
    domain: str | None
    source: str
    terms: list[str]
    first_seen: datetime | None
    last_seen: datetime | None
    alert_ids: list[int] = field(default_factory=list)
    still_seen_on: list[str] = field(default_factory=list)
    same_photo_on: list[str] = field(default_factory=list)  # another URL, same pHash
    back: bool = False  # in the source's results again since the alert
    archived_page: str | None = None  # the Internet Archive's confirmed copy of page_url


@dataclass
class EpisodeGallery:
    """The images that vanished in one alerted episode (``line``)."""

    line: StoryLine
    images: list[VanishedView]
    total: int  # before the cap

    @property
    def back(self) -> int:
        return sum(v.back for v in self.images)


def episode_galleries(
    session: Session, lines: Sequence[StoryLine], person_series: Sequence[int]
) -> list[EpisodeGallery]:
    """A gallery per alerted drop line, newest episode first (see module docstring);
    ``person_series`` are all the person's series (where images may still be seen)."""
    out = []
    for line in sorted(lines, key=lambda ln: ln.start, reverse=True):
        opening = [a.alert_id for a in line.opening_alerts]
        if line.kind != "drop" or not opening:
            continue
        merged = _merge(alerts_by_id(session, opening), line.source)
        views = list(merged.values())
        _fill_where(session, views, person_series, line.series_ids)
        out.append(EpisodeGallery(line, views[:MAX_VANISHED], len(views)))
    return out


def _merge(alerts: Sequence[Any], source: str) -> dict[str, VanishedView]:
    """The alerts' vanished images, once each (by normalised URL), in the alerts' order."""
    views: dict[str, VanishedView] = {}
    for alert in alerts:
        items = alert.payload.get("vanished_images")
        headline = alert.payload.get("term")
        for vi in items if isinstance(items, list) else []:
            if not isinstance(vi, dict) or not isinstance(vi.get("image_url"), str):
                continue
            terms = _names(vi.get("terms")) or ([headline] if isinstance(headline, str) else [])
            key = normalize_url(vi["image_url"])
            view = views.get(key)
            if view is None:
                view = views[key] = _view(vi, source, terms)
            view.terms += [t for t in terms if t not in view.terms]
            if alert.alert_id not in view.alert_ids:
                view.alert_ids.append(alert.alert_id)
    return views


def _view(vi: Mapping[str, Any], source: str, terms: list[str]) -> VanishedView:
    return VanishedView(
        None,
        vi["image_url"],
        _opt(vi.get("thumb_url")),
        _opt(vi.get("page_url")),
        _opt(vi.get("title")),
        _opt(vi.get("domain")),
        source,
        list(terms),
        _when(vi.get("first_seen")),
        _when(vi.get("last_seen")),
        archived_page=_opt(vi.get("archived_page")),
    )


def _fill_where(
    session: Session,
    views: list[VanishedView],
    person_series: Sequence[int],
    line_series: Sequence[int],
) -> None:
    """Image ids, where each image still shows, and whether it is back on its source."""
    ids = image_ids(session, [v.image_url for v in views])
    for v in views:
        v.image_id = ids.get(v.image_url)
    known = [v.image_id for v in views if v.image_id is not None]
    where = sources_showing(session, person_series, known)
    same: dict[int, set[str]] = {}
    for series_id in line_series:
        for image_id, matches in same_photo_elsewhere(session, series_id, known).items():
            same.setdefault(image_id, set()).update(m.source for m in matches if not m.same_url)
    # Archived copies confirmed since the alert count too, not only those it carried.
    archived = archived_pages(session, known)
    for v in views:
        if v.image_id is None:
            continue
        v.archived_page = archived.get(v.image_id) or v.archived_page
        now = where.get(v.image_id, set())
        v.back = v.source in now
        v.still_seen_on = sorted(now - {v.source})
        v.same_photo_on = sorted(same.get(v.image_id, set()))


def _names(value: object) -> list[str]:
    return [t for t in value if isinstance(t, str)] if isinstance(value, list) else []


def _opt(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _when(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_iso(value)
    except ValueError:
        return None
