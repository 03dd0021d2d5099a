"""The vanished images of a person, for the report's gallery.

Two records say an image vanished, and the gallery merges them per (image, source):

- ``series_images`` rows with ``seen_open`` false: the image left that series' latest valid
  result set (first and last seen are exact);
- the ``vanished_images`` of the person's drop/partial alerts: what an alert told people,
  even if the image has come back since (then ``back`` is true).

Each entry names the other sources whose latest result set still has the same image URL,
and (when thumbnails are kept) the sources still showing the same photo under another URL.
Alerted images come first (newest alert first), then the rest by last seen; at most
``MAX_VANISHED`` entries, with the total so the page can say how many are not shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from monitor.core.clock import parse_iso
from monitor.core.urls import normalize_url
from monitor.report.marks import AlertMark
from monitor.store.report_reads import AlertRow, alerts_by_id
from monitor.store.thumbnails import same_photo_elsewhere
from monitor.store.vanished_reads import image_state, sources_showing, vanished_rows

MAX_VANISHED = 300


@dataclass
class VanishedView:
    """An image gone from one source: when it was there and where it still is."""

    image_id: int | None
    series_id: int | None
    image_url: str
    thumb_url: str | None
    page_url: str | None
    title: str | None
    domain: str | None
    source: str
    term: str | None
    first_seen: datetime | None
    last_seen: datetime | None
    still_seen_on: list[str] = field(default_factory=list)
    same_photo_on: list[str] = field(default_factory=list)  # another URL, same pHash
    alert_ids: list[int] = field(default_factory=list)
    back: bool = False  # in the source's results again since the alert


def vanished_views(
    session: Session, series_ids: Sequence[int], alerts: Sequence[AlertMark]
) -> tuple[list[VanishedView], int]:
    """The gallery of ``series_ids`` (see module docstring) and the total before the cap."""
    if not series_ids:
        return [], 0
    rows, total = vanished_rows(session, series_ids, MAX_VANISHED)
    views: dict[tuple[str, str], VanishedView] = {}
    for r in rows:
        views[(normalize_url(r.image_url), r.source)] = VanishedView(
            r.image_id,
            r.series_id,
            r.image_url,
            r.thumb_url,
            r.page_url,
            r.title,
            r.domain,
            r.source,
            r.term,
            r.first_seen,
            r.last_seen,
        )
    extra = _from_alerts(session, alerts, views)
    _fill_still_seen(session, series_ids, list(views.values()) + extra)
    _fill_same_photo(session, list(views.values()) + extra)
    alerted = sorted(
        (v for v in [*views.values(), *extra] if v.alert_ids),
        key=lambda v: (-max(v.alert_ids), v.source),
    )
    rest = [v for v in views.values() if not v.alert_ids]
    out = (alerted + rest)[:MAX_VANISHED]
    return out, max(total + len(extra), len(out))


def _from_alerts(
    session: Session, alerts: Sequence[AlertMark], views: dict[tuple[str, str], VanishedView]
) -> list[VanishedView]:
    """Attach alert ids to known entries; entries for alerted images not among them."""
    ids = [a.alert_id for a in alerts if a.event in ("drop", "partial")]
    extra: dict[tuple[str, str], VanishedView] = {}
    for alert in alerts_by_id(session, ids):
        source = alert.payload.get("source")
        items = alert.payload.get("vanished_images")
        if not isinstance(source, str) or not isinstance(items, list):
            continue
        for vi in items:
            if not isinstance(vi, dict) or not isinstance(vi.get("image_url"), str):
                continue
            key = (normalize_url(vi["image_url"]), source)
            view = views.get(key) or extra.get(key)
            if view is None:
                view = extra[key] = _view_from_payload(session, alert, source, vi)
            if alert.alert_id not in view.alert_ids:
                view.alert_ids.append(alert.alert_id)
    return list(extra.values())


def _view_from_payload(
    session: Session, alert: AlertRow, source: str, vi: dict[str, Any]
) -> VanishedView:
    """An alerted image that is not (or no longer) among the vanished rows."""
    image_id, back = image_state(session, vi["image_url"], alert.series_id)
    return VanishedView(
        image_id,
        alert.series_id,
        vi["image_url"],
        _opt(vi.get("thumb_url")),
        _opt(vi.get("page_url")),
        _opt(vi.get("title")),
        _opt(vi.get("domain")),
        source,
        _opt(alert.payload.get("term")),
        _when(vi.get("first_seen")),
        _when(vi.get("last_seen")),
        back=back,
    )


def _fill_still_seen(
    session: Session, series_ids: Sequence[int], views: list[VanishedView]
) -> None:
    """Name the other sources whose latest results of this person still hold each image."""
    ids = [v.image_id for v in views if v.image_id is not None]
    if not ids:
        return
    where = sources_showing(session, series_ids, ids)
    for v in views:
        if v.image_id is not None:
            v.still_seen_on = sorted(where.get(v.image_id, set()) - {v.source})


def _fill_same_photo(session: Session, views: list[VanishedView]) -> None:
    """Name the sources still showing the same photo (by kept thumbnail) at another URL."""
    by_series: dict[int, list[VanishedView]] = {}
    for v in views:
        if v.series_id is not None and v.image_id is not None:
            by_series.setdefault(v.series_id, []).append(v)
    for series_id, group in by_series.items():
        ids = [v.image_id for v in group if v.image_id is not None]
        found = same_photo_elsewhere(session, series_id, ids)
        for v in group:
            matches = found.get(v.image_id, []) if v.image_id is not None else []
            v.same_photo_on = sorted({m.source for m in matches if not m.same_url})


def _opt(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _when(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_iso(value)
    except ValueError:
        return None
