"""The Save Page Now queue (``archive_captures``): what to archive, what is due, what came of it.

Contract:

- ``collect`` turns what the rounds stored since its last call into queued captures: the page
  of each image newly seen for a *watched* person (not controls), once per page URL ever, and
  the request URL of every confirming check held by a new ``drop`` alert, once per alert. It
  reads ``images`` and ``alerts`` past a cursor kept in ``archive_cursors``; on its first call
  it only sets the cursors (history is not archived retroactively: the budget is a few
  captures a minute). A request URL that carried a secret (masked when stored) is never
  queued: the archive would publish a useless URL, and the key is not ours to publish.
- ``due`` / ``polls_due`` list the rows to submit / poll, drops first; ``submitted_since``
  counts submissions for the rate budget (from the table, so a restart keeps the budget).
- The ``mark_*`` functions record each answer; only ``mark_archived`` sets ``archive_url``.
- ``archived_pages`` maps image ids to their archived page copy, for alerts, reports and
  bundles to link.

Functions take a ``Session`` and leave the transaction to the caller.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from monitor.core.masking import MASK
from monitor.store.models import (
    Alert,
    ArchiveCapture,
    ArchiveCursor,
    EvidenceHold,
    Image,
    Person,
    RawResponse,
    Series,
    SeriesImage,
)

MAX_URL = 2000  # longer page URLs are not archived (and are suspect in a result anyway)
WINDOW = 2000  # images or alerts read per collect call


def url_hash(url: str) -> bytes:
    """The compact key of a URL in the queue."""
    return hashlib.sha256(url.encode("utf-8", "surrogatepass")).digest()[:16]


def _archivable(url: str | None) -> bool:
    if not url or len(url) > MAX_URL or MASK in url or "%2A%2A%2A" in url:
        return False
    return url.startswith(("http://", "https://")) and not any(c.isspace() for c in url)


def _cursor(session: Session, name: str, current_max: int | None) -> int | None:
    """The cursor's value; None (after creating it at ``current_max``) on the first call."""
    row = session.get(ArchiveCursor, name)
    if row is None:
        session.add(ArchiveCursor(name=name, last_id=current_max or 0))
        session.flush()
        return None
    return row.last_id


def _advance(session: Session, name: str, last_id: int) -> None:
    session.execute(update(ArchiveCursor).where(ArchiveCursor.name == name).values(last_id=last_id))


def _queue(session: Session, rows: Iterable[dict[str, object]], now: datetime) -> int:
    """Insert captures not queued before (same URL and trigger key); returns how many."""
    added = 0
    for row in rows:
        url = str(row["url"])
        key = str(row["trigger_key"])
        exists = session.scalar(
            select(ArchiveCapture.id).where(
                ArchiveCapture.url_hash == url_hash(url), ArchiveCapture.trigger_key == key
            )
        )
        if exists is not None:
            continue
        session.add(
            ArchiveCapture(
                url=url,
                url_hash=url_hash(url),
                state="queued",
                attempts=0,
                next_at=now,
                created_at=now,
                **{k: v for k, v in row.items() if k != "url"},
            )
        )
        session.flush()
        added += 1
    return added


def collect(session: Session, now: datetime, *, first_seen: bool, drops: bool) -> int:
    """Queue what is new since the last call (see the module's contract); returns how many."""
    added = 0
    top_image = session.scalar(select(func.max(Image.id)))
    since = _cursor(session, "images", top_image)
    if since is not None and top_image is not None and top_image > since:
        window = (
            session.execute(
                select(Image.id, Image.page_url)
                .where(Image.id > since)
                .order_by(Image.id)
                .limit(WINDOW)
            )
        ).all()
        if first_seen:
            pages = {i: p for i, p in window if _archivable(p)}
            owners = session.execute(
                select(SeriesImage.image_id, Series.person_id)
                .join(Series, Series.id == SeriesImage.series_id)
                .join(Person, Person.id == Series.person_id)
                .where(
                    SeriesImage.image_id.in_(list(pages)),
                    Series.role == "watch",
                    Person.role == "watch",
                )
                .order_by(SeriesImage.image_id)
            ).all()
            rows: list[dict[str, object]] = [
                {
                    "url": pages[image_id],
                    "trigger": "first_seen",
                    "trigger_key": "page",
                    "image_id": image_id,
                    "person_id": person_id,
                }
                for image_id, person_id in owners
            ]
            added += _queue(session, rows, now)
        _advance(session, "images", window[-1][0])
    top_alert = session.scalar(select(func.max(Alert.id)))
    since = _cursor(session, "alerts", top_alert)
    if since is not None and top_alert is not None and top_alert > since:
        alerts = session.execute(
            select(Alert.id, Alert.event, Alert.person_id)
            .where(Alert.id > since)
            .order_by(Alert.id)
            .limit(WINDOW)
        ).all()
        if drops:
            added += _queue(session, _drop_rows(session, alerts), now)
        _advance(session, "alerts", alerts[-1][0])
    return added


def _drop_rows(
    session: Session, alerts: Sequence[tuple[int, str, int | None]]
) -> list[dict[str, object]]:
    """The request URL of each confirming check held by the ``drop`` alerts among ``alerts``."""
    person_of = {a: p for a, event, p in alerts if event == "drop"}
    if not person_of:
        return []
    held = session.execute(
        select(EvidenceHold.alert_id, RawResponse.request, RawResponse.final_url)
        .join(RawResponse, RawResponse.snapshot_id == EvidenceHold.snapshot_id)
        .where(EvidenceHold.alert_id.in_(list(person_of)), EvidenceHold.role == "confirming")
        .order_by(EvidenceHold.alert_id, EvidenceHold.snapshot_id)
    ).all()
    rows: list[dict[str, object]] = []
    for alert_id, request, final_url in held:
        url = _request_url(request) or final_url
        if _archivable(url):
            rows.append(
                {
                    "url": url,
                    "trigger": "drop",
                    "trigger_key": f"alert:{alert_id}",
                    "alert_id": alert_id,
                    "person_id": person_of[alert_id],
                }
            )
    return rows


def _request_url(request: str | None) -> str | None:
    try:
        url = json.loads(request or "null")["url"]
    except (ValueError, TypeError, KeyError):
        return None
    return url if isinstance(url, str) else None


def due(session: Session, now: datetime, limit: int) -> list[ArchiveCapture]:
    """Queued captures whose time has come, drops before pages, oldest first."""
    if limit <= 0:
        return []
    return list(
        session.scalars(
            select(ArchiveCapture)
            .where(ArchiveCapture.state == "queued", ArchiveCapture.next_at <= now)
            .order_by((ArchiveCapture.trigger == "drop").desc(), ArchiveCapture.id)
            .limit(limit)
        )
    )


def polls_due(session: Session, now: datetime, limit: int = 50) -> list[ArchiveCapture]:
    """Submitted captures whose job status is due to be asked."""
    return list(
        session.scalars(
            select(ArchiveCapture)
            .where(ArchiveCapture.state == "submitted", ArchiveCapture.next_at <= now)
            .order_by(ArchiveCapture.next_at, ArchiveCapture.id)
            .limit(limit)
        )
    )


def submitted_since(session: Session, since: datetime) -> int:
    """Submissions made after ``since`` (the rate budget's window)."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(ArchiveCapture)
            .where(ArchiveCapture.submitted_at > since)
        )
        or 0
    )


def _set(session: Session, capture_id: int, **values: object) -> None:
    session.execute(update(ArchiveCapture).where(ArchiveCapture.id == capture_id).values(values))


def mark_submitted(
    session: Session, capture_id: int, job_id: str, now: datetime, poll_at: datetime
) -> None:
    _set(
        session,
        capture_id,
        state="submitted",
        job_id=job_id,
        submitted_at=now,
        next_at=poll_at,
        attempts=ArchiveCapture.attempts + 1,
        error=None,
    )


def mark_retry(
    session: Session, capture_id: int, at: datetime, error: str, *, counted: bool
) -> None:
    """Back to the queue until ``at``; ``counted``: this answer used up a submission."""
    values: dict[str, object] = {"state": "queued", "next_at": at, "error": error, "job_id": None}
    if counted:
        values["attempts"] = ArchiveCapture.attempts + 1
    _set(session, capture_id, **values)


def mark_polled(session: Session, capture_id: int, at: datetime) -> None:
    _set(session, capture_id, next_at=at)


def mark_archived(
    session: Session, capture_id: int, timestamp: str, archive_url: str, now: datetime
) -> None:
    _set(
        session,
        capture_id,
        state="archived",
        timestamp=timestamp,
        archive_url=archive_url,
        archived_at=now,
        error=None,
    )


def mark_failed(session: Session, capture_id: int, error: str) -> None:
    _set(session, capture_id, state="failed", error=error)


def archived_pages(session: Session, image_ids: Iterable[int]) -> dict[int, str]:
    """Image id -> the confirmed archived copy of its page (one capture serves every image on
    that page: pages are queued once per URL)."""
    pages = dict(
        session.execute(
            select(Image.id, Image.page_url).where(
                Image.id.in_(sorted(set(image_ids))), Image.page_url.is_not(None)
            )
        ).all()
    )
    by_hash: dict[bytes, list[int]] = {}
    for image_id, page in pages.items():
        if page:
            by_hash.setdefault(url_hash(page), []).append(image_id)
    if not by_hash:
        return {}
    rows = session.execute(
        select(ArchiveCapture.url_hash, ArchiveCapture.archive_url).where(
            ArchiveCapture.url_hash.in_(list(by_hash)),
            ArchiveCapture.trigger_key == "page",
            ArchiveCapture.state == "archived",
        )
    ).all()
    found: dict[int, str] = {}
    for digest, archive_url in rows:
        if archive_url:
            found.update(dict.fromkeys(by_hash.get(digest, []), archive_url))
    return found


def captures(
    session: Session, *, alert_id: int | None = None, limit: int = 200
) -> list[ArchiveCapture]:
    """The newest captures (of one alert's drop, or all), for ``evidence archived``."""
    stmt = select(ArchiveCapture).order_by(ArchiveCapture.id.desc()).limit(limit)
    if alert_id is not None:
        stmt = stmt.where(ArchiveCapture.alert_id == alert_id)
    return list(session.scalars(stmt))
