"""Commit a finished round: snapshots, detector step, episodes and alerts, all or nothing.

``write_round`` is the seam between the impure world (database) and the pure detector:
it loads the series' detector states and the source's health, builds the detector's inputs
from the new snapshots, calls ``monitor.detector.process_round``, and writes back the new
states, the snapshots' incident flags, episode rows and alert rows (with their deliveries)
in the same transaction as the snapshots themselves.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from monitor.detector import process_round
from monitor.detector.corroboration import StaticPeers, summarize
from monitor.detector.events import Event, PeerSummary
from monitor.detector.health import SourceHealth
from monitor.detector.points import Point, RoundInput, SeriesKey
from monitor.detector.state import SeriesState
from monitor.store import outbox
from monitor.store.catalog import SeriesRef
from monitor.store.evidence import build_alert_payload, keep_raw, protect_raw
from monitor.store.models import Episode, Person, Round, Series, Snapshot, Source, Term
from monitor.store.snapshots import mark_excluded, record_snapshot

if TYPE_CHECKING:
    from monitor.app import App
    from monitor.rounds import Checked, CheckRow

logger = logging.getLogger(__name__)


def key_of(ref: SeriesRef) -> SeriesKey:
    return SeriesKey(ref.person, ref.term, ref.source, ref.vantage)


def write_round(
    app: App, source: str, checked: Sequence[Checked], started: datetime, kind: str
) -> list[CheckRow]:
    """Store the round and everything it caused in one transaction; return table rows."""
    from monitor.rounds import CheckRow

    settings = app.config.detection_for(source)
    family = app.sources[source].family
    now = max((c.finished_at for c in checked), default=started)
    with app.sessions() as session, session.begin():
        src = session.scalar(select(Source).where(Source.name == source))
        assert src is not None, "catalog.sync creates every configured source"
        rnd = Round(source_id=src.id, started_at=started, finished_at=now, kind=kind)
        session.add(rnd)
        session.flush()
        snaps: dict[int, Snapshot] = {}
        inputs: list[RoundInput] = []
        for c in checked:
            snap = record_snapshot(
                session,
                series_id=c.ref.series_id,
                observation=c.observation,
                started_at=c.started_at,
                finished_at=c.finished_at,
                round_id=rnd.id,
            )
            snaps[c.ref.series_id] = snap
            if app.config.evidence.keep_raw:
                keep_raw(session, snap, c.observation, "healthy")
            point = Point(
                t=c.finished_at,
                status=c.observation.status,
                count=c.observation.image_count,
                domains=c.observation.domain_count,
                snapshot_id=snap.id,
            )
            inputs.append(
                RoundInput(key_of(c.ref), "control" if c.ref.role == "control" else "watch", point)
            )

        rows = {
            r.id: r
            for r in session.scalars(
                select(Series).where(Series.id.in_([c.ref.series_id for c in checked]))
            )
        }
        states = {
            key_of(c.ref): _load_state(rows[c.ref.series_id].detector_state, settings)
            for c in checked
        }
        health = SourceHealth.from_dict(src.health_state or {})
        peers = _peers(app, session, [c.ref for c in checked if c.ref.role == "watch"], source)
        outcome = process_round(
            source, family, inputs, states, health, settings, peers=peers, now=now
        )
        by_key = {key_of(c.ref): c for c in checked}
        for key, state in outcome.states.items():
            rows[by_key[key].ref.series_id].detector_state = state.to_dict()
        src.health_state = outcome.health.to_dict()
        if outcome.gated:
            rnd.incident = True
            mark_excluded(session, [s.id for s in snaps.values()])
        # Every checked series' early re-check is settled by this round: asked again, or done.
        recheck = set(outcome.rechecks)
        for c in checked:
            rows[c.ref.series_id].next_check_at = (
                now + settings.recheck_after if key_of(c.ref) in recheck else None
            )
        for event in outcome.events:
            _enqueue(app, session, event, rnd, src, by_key, snaps, now)
        result = []
        for c in checked:
            new_state = outcome.states.get(key_of(c.ref))
            summary = summarize(key_of(c.ref), family, new_state) if new_state else None
            result.append(
                CheckRow(
                    person=c.ref.person,
                    term=c.ref.term,
                    source=source,
                    role=c.ref.role,
                    status=c.observation.status.value,
                    count=c.observation.image_count,
                    baseline=summary.baseline if summary else None,
                    reason=c.observation.reason,
                    state=summary.state if summary else "-",
                    snapshot_id=snaps[c.ref.series_id].id,
                )
            )
    for event in outcome.events:
        logger.warning(
            "alert %s: %s on %s — %s", event.event, event.person or "-", event.source, event.reason
        )
    return result


def _load_state(data: dict[str, Any] | None, settings: Any) -> SeriesState:
    if not data:
        return SeriesState.new(settings)
    return SeriesState.from_dict(data, settings)


def _peers(app: App, session: Any, refs: Sequence[SeriesRef], source: str) -> StaticPeers:
    """Latest states of the same people's series on every other source."""
    person_ids = {r.person_id for r in refs}
    if not person_ids:
        return StaticPeers()
    q = (
        select(Series, Person.name, Term.text, Source.name)
        .join(Person, Person.id == Series.person_id)
        .join(Term, Term.id == Series.term_id)
        .join(Source, Source.id == Series.source_id)
        .where(Series.person_id.in_(person_ids), Source.name != source)
    )
    by_person: dict[str, list[PeerSummary]] = {}
    for series, person, term, sname in session.execute(q):
        if sname not in app.sources:
            continue
        settings = app.config.detection_for(sname)
        state = _load_state(series.detector_state, settings)
        key = SeriesKey(person, term, sname, series.vantage)
        by_person.setdefault(person, []).append(summarize(key, app.sources[sname].family, state))
    return StaticPeers(by_person)


def _episode(
    session: Any, event: Event, series_id: int | None, source_id: int, now: datetime
) -> Episode | None:
    """Open, move or close the episode row an event belongs to."""
    where: list[Any]
    if event.event in ("drop", "partial", "recovered") and series_id is not None:
        where = [Episode.series_id == series_id, Episode.kind == "drop"]
    elif event.event in ("source_unhealthy", "source_recovered"):
        where = [
            Episode.source_id == source_id,
            Episode.series_id.is_(None),
            Episode.kind == "unhealthy",
        ]
    else:
        return None
    current: Episode | None = session.scalar(
        select(Episode)
        .where(*where, Episode.state != "resolved")
        .order_by(Episode.id.desc())
        .limit(1)
    )
    if event.event in ("drop", "source_unhealthy") and current is None:
        current = Episode(
            series_id=series_id if event.event == "drop" else None,
            source_id=source_id,
            kind="drop" if event.event == "drop" else "unhealthy",
            metric=event.metric,
            state="open",
            opened_at=event.episode_start or event.t,
            baseline=event.baseline,
            opened_snapshot_id=min(event.snapshot_ids, default=None),
        )
        session.add(current)
        session.flush()
    elif current is not None and event.event == "partial":
        current.state = "partial"
    elif current is not None and event.event in ("recovered", "source_recovered"):
        current.state = "resolved"
        current.closed_at = event.t
    return current


def _enqueue(
    app: App,
    session: Any,
    event: Event,
    rnd: Round,
    src: Source,
    by_key: dict[SeriesKey, Checked],
    snaps: dict[int, Snapshot],
    now: datetime,
) -> None:
    checked = None
    if event.person is not None and event.term is not None:
        checked = by_key.get(
            SeriesKey(event.person, event.term, event.source, event.vantage or app.config.vantage)
        )
    series_id = checked.ref.series_id if checked else None
    snapshot = snaps.get(series_id) if series_id is not None else None
    if snapshot is not None and event.event in ("drop", "partial") and checked is not None:
        keep_raw(session, snapshot, checked.observation, "confirming")
        protect_raw(session, event.snapshot_ids)
    episode = _episode(session, event, series_id, src.id, now)
    payload: dict[str, Any] = dict(build_alert_payload(app, session, event, series_id, now))
    if episode is not None and payload.get("episode"):
        payload["episode"] = {**payload["episode"], "id": episode.id, "state": episode.state}
    # Drops (and recoveries) found in one round on one source go out as one message.
    group = (
        f"round:{rnd.id}:{event.event}" if event.event in ("drop", "partial", "recovered") else None
    )
    outbox.enqueue(
        session,
        payload=payload,
        channels=list(app.channels),
        now=now,
        group_key=group,
        person_id=checked.ref.person_id if checked else None,
        source_id=src.id,
        series_id=series_id,
        episode_id=episode.id if episode else None,
        snapshot_id=snapshot.id if snapshot else None,
    )
