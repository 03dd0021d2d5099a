"""Read-only queries behind a person's story in the report ("What happened"): their drop
episodes, the alerts that cover each episode, and the evidence those alerts hold.

Each function takes a ``Session`` and returns frozen ``NamedTuple`` rows defined here (or
plain ids and dicts), never model objects; ``monitor.report.story`` builds the story from
them. An alert covers an episode when ``alert_episodes`` links them or when the alert row
names the episode (``alerts.episode_id``: the headline term's, and a source-wide alert's).
Nothing here writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from monitor.store.models import (
    Alert,
    AlertEpisode,
    Episode,
    EvidenceHold,
    RawResponse,
    Series,
    Snapshot,
    SourceRow,
    Term,
)


class DropEpisodeRow(NamedTuple):
    """A drop episode of one of the person's series, with the count of its first low check
    (``opened_count``; None when that snapshot is gone or failed)."""

    episode_id: int
    series_id: int
    term: str
    source: str
    vantage: str
    state: str
    opened_at: datetime
    closed_at: datetime | None
    baseline: float | None
    metric: str | None
    opened_snapshot_id: int | None
    opened_count: int | None


class HeldEvidence(NamedTuple):
    """A response an alert holds as evidence: the check (snapshot) and, when the body is
    still kept, its SHA-256 and size."""

    alert_id: int
    role: str  # pre_drop | confirming | recovery
    snapshot_id: int
    checked_at: datetime
    status: str
    image_count: int | None
    term: str
    source: str
    sha256: str | None
    size: int | None


def drop_episodes(session: Session, person_id: int) -> list[DropEpisodeRow]:
    """Every drop episode of ``person_id``'s series, by opening time (then id)."""
    opened = aliased(Snapshot)
    rows = session.execute(
        select(Episode, Term.text, SourceRow.name, Series.vantage, opened.image_count)
        .join(Series, Series.id == Episode.series_id)
        .join(Term, Term.id == Series.term_id)
        .join(SourceRow, SourceRow.id == Series.source_id)
        .outerjoin(opened, opened.id == Episode.opened_snapshot_id)
        .where(Series.person_id == person_id, Episode.kind == "drop")
        .order_by(Episode.opened_at, Episode.id)
    ).all()
    return [
        DropEpisodeRow(
            e.id,
            e.series_id,
            term,
            source,
            vantage,
            e.state,
            e.opened_at,
            e.closed_at,
            e.baseline,
            e.metric,
            e.opened_snapshot_id,
            count,
        )
        for e, term, source, vantage, count in rows
        if e.series_id is not None
    ]


def alerts_covering(session: Session, episode_ids: Sequence[int]) -> dict[int, set[int]]:
    """For each of ``episode_ids`` that an alert covers, the ids of those alerts."""
    if not episode_ids:
        return {}
    ids = list(episode_ids)
    out: dict[int, set[int]] = {}
    linked = session.execute(
        select(AlertEpisode.episode_id, AlertEpisode.alert_id).where(
            AlertEpisode.episode_id.in_(ids)
        )
    ).all()
    named = session.execute(
        select(Alert.episode_id, Alert.id).where(Alert.episode_id.in_(ids))
    ).all()
    for episode_id, alert_id in [*linked, *named]:
        if episode_id is not None:
            out.setdefault(int(episode_id), set()).add(int(alert_id))
    return out


def held_evidence(session: Session, alert_ids: Sequence[int]) -> list[HeldEvidence]:
    """The responses ``alert_ids`` hold (released holds included: the report says what the
    alert rested on), one row per alert and snapshot, by snapshot id."""
    if not alert_ids:
        return []
    rows = session.execute(
        select(
            EvidenceHold.alert_id,
            EvidenceHold.role,
            Snapshot.id,
            Snapshot.finished_at,
            Snapshot.status,
            Snapshot.image_count,
            Term.text,
            SourceRow.name,
            RawResponse.sha256,
            RawResponse.size,
        )
        .join(Snapshot, Snapshot.id == EvidenceHold.snapshot_id)
        .join(Series, Series.id == Snapshot.series_id)
        .join(Term, Term.id == Series.term_id)
        .join(SourceRow, SourceRow.id == Series.source_id)
        .outerjoin(RawResponse, RawResponse.snapshot_id == Snapshot.id)
        .where(EvidenceHold.alert_id.in_(list(alert_ids)))
        .order_by(Snapshot.id, EvidenceHold.alert_id)
    ).all()
    seen: set[tuple[int, int]] = set()
    out = []
    for row in rows:
        held = HeldEvidence._make(row)
        if (held.alert_id, held.snapshot_id) not in seen:
            seen.add((held.alert_id, held.snapshot_id))
            out.append(held)
    return out
