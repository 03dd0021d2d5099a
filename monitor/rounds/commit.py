"""The transaction of a round: everything a round caused, stored together or not at all.

``RoundCommit`` is the seam between the impure world (the database) and the pure detector:
it stores the round's snapshots, loads the series' detector states and the source's health
(``monitor.store.rounds``), runs ``monitor.detector.process_round``, and writes back the new
states, the incident flag, episodes, the evidence bodies of drops (``monitor.store.evidence``)
and the alerts with their deliveries (``monitor.alerts.events`` -> ``monitor.store.outbox``),
in the transaction that holds the snapshots. Alerts are per person: one round's events of a
person's terms on the source make one alert (``monitor.alerts.people``), and a person
already in an episode gets no second drop. Raw bodies are compressed before it opens.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from monitor.alerts.events import episode_info, payload_of
from monitor.alerts.people import Group, group_events, quiet_terms
from monitor.alerts.schema import VanishedImage
from monitor.config import Config
from monitor.core.observation import Observation
from monitor.detector import process_round
from monitor.detector.corroboration import summarize
from monitor.detector.events import Event, PeerSummary
from monitor.detector.health import SourceHealth
from monitor.detector.points import Point, RoundInput, SeriesKey
from monitor.store import outbox
from monitor.store import rounds as stored
from monitor.store.catalog import SeriesRef
from monitor.store.evidence import (
    RawBody,
    healthy_digests,
    keep_raw,
    protect_raw,
    vanished_images,
)
from monitor.store.models import Episode, Round, Snapshot, SourceRow
from monitor.store.snapshots import record_snapshot

logger = logging.getLogger(__name__)

_EVIDENT = ("drop", "partial")  # events whose confirming bodies and vanished images are kept


@dataclass(frozen=True)
class CheckRow:
    """What one series' check in a round came to: one line of the table ``check`` prints."""

    person: str
    term: str
    source: str
    role: str
    status: str
    count: int | None
    baseline: float | None
    reason: str | None
    state: str
    snapshot_id: int | None


@dataclass(frozen=True)
class Checked:
    """A finished check, waiting to be written with the rest of its round."""

    ref: SeriesRef
    observation: Observation
    started_at: datetime
    finished_at: datetime
    raw: RawBody | None = None


def key_of(ref: SeriesRef) -> SeriesKey:
    """The detector's name for a stored series."""
    return SeriesKey(ref.person, ref.term, ref.source, ref.vantage)


class RoundCommit:
    """Writes one finished round in one transaction: snapshots, kept bodies, the detector's
    step, states, episodes and alerts (with their deliveries), all or nothing."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        config: Config,
        families: Mapping[str, str],
        channels: Sequence[str],
    ) -> None:
        self.sessions = sessions
        self.config = config
        self.families = families
        self.channels = list(channels)

    def __call__(
        self, source: str, checked: list[Checked], started: datetime, kind: str
    ) -> list[CheckRow]:
        """Store the round and everything it caused in one transaction (runs in a thread)."""
        # Hash now, and compress now what will be written: gzip of large pages must not hold
        # the write lock. An unchanged healthy body is not written again (keep_raw).
        kept: dict[int, str] = {}
        if self.config.evidence.keep_raw:
            with self.sessions() as session:
                kept = healthy_digests(session, [c.ref.series_id for c in checked])
        checked = [
            _with_body(c, kept.get(c.ref.series_id), self.config.evidence.keep_raw) for c in checked
        ]
        settings = self.config.detection_for(source)
        family = self.families[source]
        now = max((c.finished_at for c in checked), default=started)
        by_key = {key_of(c.ref): c for c in checked}
        with self.sessions() as session, session.begin():
            rnd, src = stored.open_round(session, source, started, now, kind)
            snaps = {c.ref.series_id: self._snapshot(session, rnd, c) for c in checked}
            rows = stored.series_by_id(session, snaps)
            states = {
                key_of(c.ref): stored.state_of(rows[c.ref.series_id].detector_state, settings)
                for c in checked
            }
            outcome = process_round(
                source,
                family,
                [_input(c, snaps[c.ref.series_id]) for c in checked],
                states,
                SourceHealth.from_dict(src.health_state or {}),
                settings,
                peers=stored.peers(
                    session,
                    {c.ref.person_id for c in checked if c.ref.role == "watch"},
                    source,
                    settings_for=self.config.detection_for,
                    family_of=self.families,
                ),
                now=now,
            )
            stored.save_states(
                rows,
                {by_key[k].ref.series_id: s for k, s in outcome.states.items()},
                rechecks={by_key[k].ref.series_id for k in outcome.rechecks},
                recheck_after=settings.recheck_after,
                now=now,
            )
            stored.save_health(
                session,
                rnd,
                src,
                outcome.health,
                gated=outcome.gated,
                snapshot_ids=[s.id for s in snaps.values()],
            )
            watched = {k for k, c in by_key.items() if c.ref.role == "watch"}
            for group in group_events(outcome.events):
                quiet = quiet_terms(group, outcome.states, watched, family)
                self._alert(session, group, rnd, src, by_key, snaps, now, quiet)
        for event in outcome.events:
            logger.warning(
                "alert %s: %s on %s — %s",
                event.event,
                event.person or "-",
                event.source,
                event.reason,
            )
        return [_row(c, family, outcome.states.get(key_of(c.ref)), snaps) for c in checked]

    def _snapshot(self, session: Session, rnd: Round, c: Checked) -> Snapshot:
        snap = record_snapshot(
            session,
            series_id=c.ref.series_id,
            observation=c.observation,
            started_at=c.started_at,
            finished_at=c.finished_at,
            round_id=rnd.id,
        )
        if self.config.evidence.keep_raw:
            keep_raw(session, snap, c.raw, "healthy")
        return snap

    def _alert(
        self,
        session: Session,
        group: Group,
        rnd: Round,
        src: SourceRow,
        by_key: Mapping[SeriesKey, Checked],
        snaps: Mapping[int, Snapshot],
        now: datetime,
        quiet: Sequence[PeerSummary],
    ) -> None:
        """The evidence, episodes and outbox row of one alert: a person's events of this
        round on this source (or one source event). A person in an episode already (another
        of their terms dropped earlier) gets no second drop, and recovers with their last
        term: the events still move their series' episodes and keep their evidence."""
        head = group[0]
        found = [(e, self._checked(e, by_key)) for e in group]
        refs = [c.ref for _, c in found if c is not None]
        person_id = refs[0].person_id if refs else None
        vantage = head.vantage or self.config.vantage
        still_open: dict[int, int] = {}
        if head.event == "drop" and person_id is not None:
            besides = [r.series_id for r in refs]
            still_open = stored.open_drop_episodes(
                session, person_id, src.id, vantage, besides=besides
            )
        vanished: dict[str, list[VanishedImage]] = {}
        episodes: dict[str, int | None] = {}
        lead: tuple[int | None, Episode | None] = (None, None)
        for event, checked in found:
            series_id = checked.ref.series_id if checked else None
            snapshot = snaps.get(series_id) if series_id is not None else None
            if checked is not None and snapshot is not None and event.event in _EVIDENT:
                keep_raw(session, snapshot, checked.raw, "confirming")
                protect_raw(session, event.snapshot_ids)
            if series_id is not None and event.event in _EVIDENT and not still_open:
                vanished[event.term or ""] = vanished_images(session, series_id, event)
            episode = stored.move_episode(session, event, series_id, src.id)
            if event.term is not None:
                episodes[event.term] = episode.id if episode else None
            if event is head:
                lead = (series_id, episode)
        if head.event == "recovered" and person_id is not None:
            still_open = stored.open_drop_episodes(
                session, person_id, src.id, vantage, besides=[r.series_id for r in refs]
            )
        if still_open:
            logger.info(
                "%s of %s on %s belongs to the person's open episode(s) %s: no new alert",
                head.event,
                head.person,
                head.source,
                ", ".join(f"#{e}" for e in sorted(still_open.values())),
            )
            return
        series_id, episode = lead
        snapshot = snaps.get(series_id) if series_id is not None else None
        info = (
            episode_info(head, episode_id=episode.id, state=episode.state)
            if episode is not None
            else episode_info(head, episode_id=series_id or 0)
        )
        payload = payload_of(
            group, alert_id=0, episode=info, vanished=vanished, episodes=episodes, quiet=quiet
        )
        # Drops (and recoveries) found in one round on one source go out as one message.
        grouped = head.event in ("drop", "partial", "recovered")
        outbox.enqueue(
            session,
            payload=dict(payload),
            channels=self.channels,
            now=now,
            group_key=f"round:{rnd.id}:{head.event}" if grouped else None,
            person_id=person_id,
            source_id=src.id,
            series_id=series_id,
            episode_id=episode.id if episode else None,
            snapshot_id=snapshot.id if snapshot else None,
        )

    def _checked(self, event: Event, by_key: Mapping[SeriesKey, Checked]) -> Checked | None:
        if event.person is None or event.term is None:
            return None
        vantage = event.vantage or self.config.vantage
        return by_key.get(SeriesKey(event.person, event.term, event.source, vantage))


def _input(c: Checked, snap: Snapshot) -> RoundInput:
    point = Point(
        t=c.finished_at,
        status=c.observation.status,
        count=c.observation.image_count,
        domains=c.observation.domain_count,
        snapshot_id=snap.id,
    )
    return RoundInput(key_of(c.ref), "control" if c.ref.role == "control" else "watch", point)


def _row(c: Checked, family: str, state: Any, snaps: Mapping[int, Snapshot]) -> CheckRow:
    summary = summarize(key_of(c.ref), family, state) if state is not None else None
    return CheckRow(
        person=c.ref.person,
        term=c.ref.term,
        source=c.ref.source,
        role=c.ref.role,
        status=c.observation.status.value,
        count=c.observation.image_count,
        baseline=summary.baseline if summary else None,
        reason=c.observation.reason,
        state=summary.state if summary else "-",
        snapshot_id=snaps[c.ref.series_id].id,
    )


def _with_body(c: Checked, kept_digest: str | None, keep_healthy: bool) -> Checked:
    """``c`` with its body hashed, and compressed if the healthy-body policy will write it."""
    body = RawBody.of(c.observation)
    if body is not None and keep_healthy and body.sha256 != kept_digest:
        body.compress()
    return Checked(c.ref, c.observation, c.started_at, c.finished_at, body)
