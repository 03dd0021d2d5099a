"""What an evidence bundle of one alert holds (``evidence export``), read in one session.

An alert's *case* is the alert and every alert that covers one of its episodes
(``alert_episodes``): a drop's bundle holds the drop's pre-drop and confirming responses and
the recovery alert's first recovered response, whichever alert was asked for. Each kept
response comes with the snapshot it belongs to, its role and what was asked; each kept
thumbnail of the case's vanished images with its original URL and fetch time; and the
Internet Archive's confirmed copies of its pages (``evidence.archive.wayback``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.store.models import (
    Alert,
    AlertEpisode,
    ArchiveCapture,
    EvidenceHold,
    Image,
    Person,
    RawResponse,
    Series,
    Snapshot,
    SourceRow,
    Term,
    Thumbnail,
)

# The order responses appear in a bundle: the story as it happened.
ROLES = ("pre_drop", "confirming", "recovery")


@dataclass(frozen=True, slots=True)
class KeptResponse:
    """A response an alert of the case holds."""

    snapshot_id: int
    role: str
    term: str
    started_at: datetime
    finished_at: datetime
    sha256: str
    content_type: str | None
    body_gz: bytes
    final_url: str | None
    http_status: int | None
    request: str | None  # JSON: method, url, headers (secrets masked)


@dataclass(frozen=True, slots=True)
class KeptImage:
    """A kept thumbnail of a vanished image of the case."""

    image_url: str
    thumb_url: str | None
    sha256: str
    content_type: str
    fetched_at: datetime
    path: str  # relative to the thumbnail directory


@dataclass(frozen=True, slots=True)
class Case:
    """An alert, the alerts of its episodes, and what they hold."""

    alert_id: int
    payload: dict[str, Any]
    person: str | None
    source: str | None
    alerts: list[int]
    responses: list[KeptResponse]
    images: list[KeptImage]
    vanished: list[dict[str, Any]]  # the case's alerts' vanished images, each once, by URL
    archived: list[dict[str, Any]]  # the Internet Archive's confirmed copies of its pages


def case_of(session: Session, alert_id: int) -> Case | None:
    """The case of ``alert_id`` (None: no such alert)."""
    alert = session.get(Alert, alert_id)
    if alert is None:
        return None
    episodes = select(AlertEpisode.episode_id).where(AlertEpisode.alert_id == alert_id)
    related = set(
        session.scalars(select(AlertEpisode.alert_id).where(AlertEpisode.episode_id.in_(episodes)))
    )
    alerts = sorted(related | {alert_id})
    person = session.get(Person, alert.person_id) if alert.person_id is not None else None
    source = session.get(SourceRow, alert.source_id) if alert.source_id is not None else None
    return Case(
        alert_id,
        dict(alert.payload),
        person.name if person else None,
        source.name if source else None,
        alerts,
        _responses(session, alerts),
        _images(session, alerts),
        _vanished(session, alerts),
        _archived(session, alerts),
    )


def _archived(session: Session, alerts: list[int]) -> list[dict[str, Any]]:
    """Captures of the case's alerts (the engine's result page at a drop) that the archive
    confirmed; a submission is not an archive."""
    rows = session.scalars(
        select(ArchiveCapture)
        .where(ArchiveCapture.alert_id.in_(alerts), ArchiveCapture.state == "archived")
        .order_by(ArchiveCapture.id)
    )
    return [
        {"url": c.url, "archive_url": c.archive_url, "trigger": c.trigger, "timestamp": c.timestamp}
        for c in rows
    ]


def _vanished(session: Session, alerts: list[int]) -> list[dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for payload in session.scalars(select(Alert.payload).where(Alert.id.in_(alerts))):
        for image in (payload or {}).get("vanished_images") or []:
            if isinstance(image, dict) and image.get("image_url"):
                out.setdefault(str(image["image_url"]), image)
    return list(out.values())


def _responses(session: Session, alerts: list[int]) -> list[KeptResponse]:
    rows = session.execute(
        select(EvidenceHold.role, Snapshot, Term.text, RawResponse)
        .join(Snapshot, Snapshot.id == EvidenceHold.snapshot_id)
        .join(Series, Series.id == Snapshot.series_id)
        .join(Term, Term.id == Series.term_id)
        .join(RawResponse, RawResponse.snapshot_id == Snapshot.id)
        .where(EvidenceHold.alert_id.in_(alerts))
        .order_by(Snapshot.id)
    )
    out: dict[int, KeptResponse] = {}
    for role, snap, term, raw in rows:
        if snap.id in out:  # held by two alerts of the case (a folded term's episode)
            continue
        out[snap.id] = KeptResponse(
            snap.id,
            role,
            term,
            snap.started_at,
            snap.finished_at,
            raw.sha256,
            raw.content_type,
            raw.body_gz,
            raw.final_url,
            raw.http_status,
            raw.request,
        )
    rank = {role: n for n, role in enumerate(ROLES)}
    return sorted(out.values(), key=lambda r: (rank.get(r.role, len(ROLES)), r.snapshot_id))


def _images(session: Session, alerts: list[int]) -> list[KeptImage]:
    held = select(EvidenceHold.image_id).where(
        EvidenceHold.alert_id.in_(alerts), EvidenceHold.image_id.is_not(None)
    )
    rows = session.execute(
        select(Image.image_url, Image.thumb_url, Thumbnail)
        .join(Thumbnail, Thumbnail.image_id == Image.id)
        .where(Image.id.in_(held))
        .order_by(Image.id)
    )
    return [
        KeptImage(url, thumb_url, t.sha256, t.content_type, t.fetched_at, t.path)
        for url, thumb_url, t in rows
    ]
