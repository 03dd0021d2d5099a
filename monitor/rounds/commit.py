"""The transaction of a round: everything a round caused, stored together or not at all.

``RoundCommit`` is the seam between the impure world (the database) and the pure detector:
it stores the round's snapshots, loads the series' detector states and the source's health
(``monitor.store.rounds``), runs ``monitor.detector.process_round``, and writes back the new
states, the incident flag, episodes, the kept bodies (``monitor.store.evidence``: after the
detector's step, so a check that is a sign of a drop never supersedes the series' last healthy
answer), the alerts with their deliveries (``monitor.alerts.events`` -> ``monitor.store.outbox``)
and each alert's hold on its evidence (``monitor.store.retention.hold``: the pre-drop,
confirming and first recovered responses, the vanished images' thumbnails), in the
transaction that holds the snapshots; last, the snapshots are chained into the snapshot
log (``monitor.store.snapshot_log``), whose head stays locked only until the commit.
Alerts are per person: one round's events of a person's terms on the source make one
alert (``monitor.alerts.people``), and a person already in an episode gets no second drop.
Raw bodies arrive compressed (or reduced to their digest when unchanged) by the runner as
each check ends; what the transaction needs is read before it (``monitor.rounds.prepare``),
so it only writes, and a collision with another writer (``store.db.retrying``) runs it
again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from monitor.alerts.people import group_events, quiet_terms
from monitor.config import Config
from monitor.detector import RoundOutcome, process_round
from monitor.detector.corroboration import summarize
from monitor.detector.points import Point, RoundInput, SeriesKey
from monitor.detector.settings import DetectionSettings
from monitor.detector.state import SeriesState
from monitor.rounds.alerting import At, write_alert
from monitor.rounds.checked import Checked as Checked
from monitor.rounds.checked import CheckRow as CheckRow
from monitor.rounds.checked import key_of
from monitor.rounds.prepare import Read, RoundSettings, read_round
from monitor.store import rounds as stored
from monitor.store import snapshot_log
from monitor.store.bodies import (
    RawBody,
    ToKeep,
    healthy_digests,
    keep_bodies,
)
from monitor.store.catalog import SeriesRef
from monitor.store.db import retrying
from monitor.store.snapshot_batch import NewSnapshot, SnapshotPlan, write_snapshots

logger = logging.getLogger(__name__)
# A cluster leader's step inside a round's transaction (the fence, its staged rows).
Hook = Callable[[Session], None]
# Detector states in which a check is a sign of a drop (pending) or part of one (open).
_SIGNS = frozenset({"pending", "dropped", "partial"})


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
        # Rounds that end together read one at a time: their reads hold no lock, but each
        # round's working set in memory at once would raise the process's peak.
        self._reading = threading.Lock()

    def kept_digests(self, series_ids: list[int]) -> dict[int, str]:
        """The digest of each series' kept healthy body (read before a round's checks, so
        each body can be compressed or reduced to its digest the moment its check ends)."""
        if not self.config.evidence.keep_raw:
            return {}
        with self.sessions() as session:
            return healthy_digests(session, series_ids)

    def __call__(
        self,
        source: str,
        checked: list[Checked],
        started: datetime,
        kind: str,
        *,
        fence: Hook | None = None,
        settle: Hook | None = None,
    ) -> list[CheckRow]:
        """Store the round and everything it caused in one transaction (runs in a thread);
        a collision with another writer runs the transaction again, it never drops the round.

        A cluster's leader passes ``fence`` (first in the transaction: raises when its
        leadership is stale, so nothing is written) and ``settle`` (last: its staged rows)."""
        keep = self.config.evidence.keep_raw
        checked = [c if c.raw is not None else _with_body(c, keep) for c in checked]
        now = max((c.finished_at for c in checked), default=started)
        with self._reading, self.sessions() as session:
            read = read_round(session, source, snapshots_of(checked), self._settings(source))
        outcome, ids = retrying(
            lambda: self._write(source, checked, read, started, now, kind, (fence, settle)),
            what=f"round of {source}",
        )
        for event in outcome.events:
            logger.warning(
                "alert %s: %s on %s — %s",
                event.event,
                event.person or "-",
                event.source,
                event.reason,
            )
        family = self.families[source]
        return [_row(c, family, outcome.states.get(key_of(c.ref)), ids) for c in checked]

    def _write(
        self,
        source: str,
        checked: list[Checked],
        read: Read,
        started: datetime,
        now: datetime,
        kind: str,
        hooks: tuple[Hook | None, Hook | None] = (None, None),
    ) -> tuple[RoundOutcome, dict[int, int]]:
        settings = self.config.detection_for(source)
        by_key = {key_of(c.ref): c for c in checked}
        # The series' vantage (a cluster's leader closes every vantage's rounds).
        vantage = checked[0].ref.vantage if checked else self.config.vantage
        with self.sessions() as session, session.begin():
            if hooks[0] is not None:
                hooks[0](session)
            src = stored.source_for_write(session, source)
            if stored.last_round_id(session, source) != read.marker:
                # Another writer stored a round of this source since: read again, in here.
                logger.info("round of %s: another round was stored meanwhile", source)
                read = read_round(session, source, snapshots_of(checked), self._settings(source))
            rnd = stored.add_round(session, src, started, now, kind, vantage)
            written = write_snapshots(session, read.plan, rnd.id)
            ids = written.ids
            states = read.states()
            outcome = process_round(
                source,
                self.families[source],
                [_input(c, ids, read.plan) for c in checked],
                {key_of(c.ref): states[c.ref.series_id] for c in checked},
                stored.health_of(src, vantage),
                settings,
                peers=stored.StoredPeers(
                    session, settings_for=self.config.detection_for, family_of=self.families
                ),
                now=now,
            )
            stored.save_states(
                session,
                {by_key[k].ref.series_id: s for k, s in outcome.states.items()},
                rechecks={by_key[k].ref.series_id for k in outcome.rechecks},
                recheck_after=settings.recheck_after,
                now=now,
            )
            stored.save_health(
                session, rnd, src, outcome.health, gated=outcome.gated, snapshot_ids=ids.values()
            )
            if self.config.evidence.keep_raw and not outcome.gated:
                # A gated round was blamed on the engine: its answers are nobody's evidence.
                keep_bodies(session, read.healthy, list(_keeps(checked, ids, outcome)))
            refs = {k: c.ref for k, c in by_key.items()}
            # Every term of an alerted person, also those this round did not check.
            standing = {
                **self._unchecked(session, src.id, outcome, refs, settings, vantage),
                **outcome.states,
            }
            watched = {k for k, r in refs.items() if r.role == "watch"} | (
                standing.keys() - outcome.states.keys()
            )
            for group in group_events(outcome.events):
                quiet = quiet_terms(
                    group, standing, watched, self.families[source], checked=by_key.keys()
                )
                write_alert(
                    session,
                    group,
                    At(rnd, src, now, vantage, self.channels),
                    refs,
                    ids,
                    quiet,
                    detection=settings,
                )
            # Last: the log's head stays locked only for the moment before the commit.
            snapshot_log.append(
                session, written.rows, now, names=read.names, digests=written.digests
            )
            if hooks[1] is not None:
                hooks[1](session)
        return outcome, ids

    def _settings(self, source: str) -> RoundSettings:
        return RoundSettings(self.config.detection_for(source), self.config.evidence.keep_raw)

    def _unchecked(
        self,
        session: Session,
        source_id: int,
        outcome: RoundOutcome,
        refs: Mapping[SeriesKey, SeriesRef],
        settings: DetectionSettings,
        vantage: str,
    ) -> dict[SeriesKey, SeriesState]:
        """Stored states of the configured terms of the people with an event in this round
        that the round did not check (a re-check round checks only the terms asked for)."""
        alerted = {e.person for e in outcome.events if e.person is not None}
        person_ids = {r.person_id for r in refs.values() if r.person in alerted}
        if not person_ids:
            return {}
        configured = {(p.name, t.text) for p in self.config.people for t in p.terms}
        unchecked = stored.unchecked_terms(
            session,
            person_ids,
            source_id,
            vantage,
            settings,
            besides=[r.series_id for r in refs.values()],
        )
        return {k: v for k, v in unchecked.items() if (k.person, k.term) in configured}


def snapshots_of(checked: list[Checked]) -> list[NewSnapshot]:
    """The snapshots the ``checked`` results are stored as."""
    return [
        NewSnapshot(
            c.ref.series_id,
            c.observation,
            c.started_at,
            c.finished_at,
            c.raw.sha256 if c.raw is not None else None,
            c.check_id,
        )
        for c in checked
    ]


def _keeps(
    checked: list[Checked], ids: Mapping[int, int], outcome: RoundOutcome
) -> Iterator[ToKeep]:
    """The body of each check to keep: ``suspect`` while its series shows a drop."""
    for c in checked:
        if c.raw is None:
            continue
        state = outcome.states.get(key_of(c.ref))
        sign = state is not None and state.status in _SIGNS
        sid = c.ref.series_id
        yield ToKeep(ids[sid], sid, c.finished_at, c.raw, "suspect" if sign else "healthy")


def _input(c: Checked, ids: Mapping[int, int], plan: SnapshotPlan) -> RoundInput:
    count, domains = plan.counts(c.ref.series_id)  # from the plan: no URL normalised again
    point = Point(
        t=c.finished_at,
        status=c.observation.status,
        count=count,
        domains=domains,
        snapshot_id=ids[c.ref.series_id],
    )
    return RoundInput(key_of(c.ref), "control" if c.ref.role == "control" else "watch", point)


def _row(c: Checked, family: str, state: Any, ids: Mapping[int, int]) -> CheckRow:
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
        snapshot_id=ids[c.ref.series_id],
    )


def _with_body(c: Checked, keep: bool) -> Checked:
    """``c`` with its body hashed and, to ``keep`` it, compressed (for callers that did not
    at check time)."""
    body = RawBody.ready(c.observation, None, compress=keep)
    return Checked(c.ref, c.observation, c.started_at, c.finished_at, body, c.check_id)
