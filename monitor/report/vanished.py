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

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.core.observation import ImageItem
from monitor.core.urls import normalize_url
from monitor.report.marks import AlertMark
from monitor.store.models import Alert, Image, Series, SeriesImage, SourceRow, Term
from monitor.store.snapshots import url_hash
from monitor.store.thumbnails import same_photo_elsewhere

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
    gone = (SeriesImage.series_id.in_(list(series_ids))) & (SeriesImage.seen_open.is_(False))
    total = session.scalar(select(func.count()).select_from(SeriesImage).where(gone)) or 0
    rows = session.execute(
        select(SeriesImage, Image, SourceRow.name, Term.text)
        .join(Image, Image.id == SeriesImage.image_id)
        .join(Series, Series.id == SeriesImage.series_id)
        .join(SourceRow, SourceRow.id == Series.source_id)
        .join(Term, Term.id == Series.term_id)
        .where(gone)
        .order_by(SeriesImage.last_seen.desc(), Image.id)
        .limit(MAX_VANISHED)
    ).all()
    views: dict[tuple[str, str], VanishedView] = {}
    for si, img, source, term in rows:
        views[(normalize_url(img.image_url), source)] = VanishedView(
            img.id,
            si.series_id,
            img.image_url,
            img.thumb_url,
            img.page_url,
            img.title,
            img.domain,
            source,
            term,
            si.first_seen,
            si.last_seen,
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
    if not ids:
        return []
    extra: dict[tuple[str, str], VanishedView] = {}
    for alert in session.scalars(select(Alert).where(Alert.id.in_(ids)).order_by(Alert.id)):
        payload: dict[str, Any] = alert.payload if isinstance(alert.payload, dict) else {}
        source = payload.get("source")
        items = payload.get("vanished_images")
        if not isinstance(source, str) or not isinstance(items, list):
            continue
        for vi in items:
            if not isinstance(vi, dict) or not isinstance(vi.get("image_url"), str):
                continue
            key = (normalize_url(vi["image_url"]), source)
            view = views.get(key) or extra.get(key)
            if view is None:
                view = extra[key] = _view_from_payload(session, alert, source, payload, vi)
            if alert.id not in view.alert_ids:
                view.alert_ids.append(alert.id)
    return list(extra.values())


def _view_from_payload(
    session: Session, alert: Alert, source: str, payload: dict[str, Any], vi: dict[str, Any]
) -> VanishedView:
    """An alerted image that is not (or no longer) among the vanished rows."""
    img = session.scalar(
        select(Image).where(Image.url_hash == url_hash(ImageItem(vi["image_url"])))
    )
    back = False
    if img is not None and alert.series_id is not None:
        si = session.get(SeriesImage, (alert.series_id, img.id))
        back = bool(si is not None and si.seen_open)
    return VanishedView(
        img.id if img is not None else None,
        alert.series_id,
        vi["image_url"],
        _opt(vi.get("thumb_url")),
        _opt(vi.get("page_url")),
        _opt(vi.get("title")),
        _opt(vi.get("domain")),
        source,
        _opt(payload.get("term")),
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
    where: dict[int, set[str]] = {}
    for image_id, source in session.execute(
        select(SeriesImage.image_id, SourceRow.name)
        .join(Series, Series.id == SeriesImage.series_id)
        .join(SourceRow, SourceRow.id == Series.source_id)
        .where(
            SeriesImage.series_id.in_(list(series_ids)),
            SeriesImage.seen_open.is_(True),
            SeriesImage.image_id.in_(ids),
        )
    ).all():
        where.setdefault(image_id, set()).add(source)
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
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
