"""SQL of rounds: the round row, the detector's stored inputs and states, episodes, and when
the daemon runs next (each source's last round, the re-checks that are due).

Every function here works inside the caller's transaction (``monitor.rounds`` opens one per
round, so snapshots, states, episodes and alerts are stored together or not at all) and takes
a ``Session``, never the application. The detector itself is pure; this module only loads
what it needs and writes back what it decided.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.orm import Session

from monitor.detector.corroboration import sort_peers, summarize
from monitor.detector.events import Event, PeerSummary
from monitor.detector.health import SourceHealth
from monitor.detector.points import SeriesKey
from monitor.detector.settings import DetectionSettings
from monitor.detector.state import SeriesState
from monitor.store.models import Episode, Person, Round, Series, SourceRow, Term
from monitor.store.snapshots import mark_excluded

DEFAULT_VANTAGE = "default"  # the config's ``vantage`` when none is set
_VANTAGES = "vantages"  # the health of the other vantages, inside ``health_state``


def source_for_write(session: Session, source: str) -> SourceRow:
    """The row of ``source``, locked for the rest of the transaction (``FOR UPDATE`` on
    PostgreSQL; SQLite's write transaction holds the whole file): two writers of one source
    take turns, the second one seeing what the first stored."""
    src = session.scalar(select(SourceRow).where(SourceRow.name == source).with_for_update())
    assert src is not None, "catalog.sync creates every configured source"
    return src


def last_round_id(session: Session, source: str) -> int | None:
    """The id of the latest round stored for ``source`` (None: none yet). Every write of a
    source's series (snapshots, states, kept bodies, sightings) comes with a round row, so
    an unchanged id means none of them changed."""
    return session.scalar(
        select(Round.id)
        .join(SourceRow, SourceRow.id == Round.source_id)
        .where(SourceRow.name == source)
        .order_by(Round.id.desc())
        .limit(1)
    )


def add_round(
    session: Session,
    src: SourceRow,
    started: datetime,
    finished: datetime,
    kind: str,
    vantage: str = "default",
) -> Round:
    """Add the round row of ``src`` (``kind``: scheduled, recheck, manual) at ``vantage``."""
    rnd = Round(
        source_id=src.id, started_at=started, finished_at=finished, kind=kind, vantage=vantage
    )
    session.add(rnd)
    session.flush()
    return rnd


def state_of(data: dict[str, Any] | None, settings: DetectionSettings) -> SeriesState:
    """A series' stored detector state, or a fresh one."""
    if not data:
        return SeriesState.new(settings)
    return SeriesState.from_dict(data, settings)


def stored_states(session: Session, series_ids: Collection[int]) -> dict[int, Any]:
    """The stored detector states of ``series_ids`` as stored (``state_of`` reads one)."""
    ids = list(series_ids)
    out: dict[int, Any] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = session.execute(select(Series.id, Series.detector_state).where(Series.id.in_(chunk)))
        out.update({sid: data for sid, data in rows})
    return out


class StoredPeers:
    """The latest stored states of a person's series on the other configured sources
    (``family_of`` names them), for corroboration; read when the detector asks, that is
    only for a person with a confirmed transition, inside the round's transaction."""

    def __init__(
        self,
        session: Session,
        *,
        settings_for: Callable[[str], DetectionSettings],
        family_of: Mapping[str, str],
    ) -> None:
        self.session = session
        self.settings_for = settings_for
        self.family_of = family_of

    def peers_of(self, person: str, source: str) -> Sequence[PeerSummary]:
        q = (
            select(Series, Term.text, SourceRow.name)
            .join(Person, Person.id == Series.person_id)
            .join(Term, Term.id == Series.term_id)
            .join(SourceRow, SourceRow.id == Series.source_id)
            .where(Person.name == person, SourceRow.name != source)
        )
        out = []
        for series, term, name in self.session.execute(q):
            if name not in self.family_of:
                continue
            state = state_of(series.detector_state, self.settings_for(name))
            key = SeriesKey(person, term, name, series.vantage)
            out.append(summarize(key, self.family_of[name], state))
        return sort_peers(out)


def unchecked_terms(
    session: Session,
    person_ids: Collection[int],
    source_id: int,
    vantage: str,
    settings: DetectionSettings,
    *,
    besides: Collection[int],
) -> dict[SeriesKey, SeriesState]:
    """Stored states of the people's watched series on the source (and vantage), leaving out
    the series ``besides`` (those a round checked): the latest figures of a person's terms
    a re-check round did not check."""
    if not person_ids:
        return {}
    q = (
        select(Series, Person.name, Term.text, SourceRow.name)
        .join(Person, Person.id == Series.person_id)
        .join(Term, Term.id == Series.term_id)
        .join(SourceRow, SourceRow.id == Series.source_id)
        .where(
            Series.person_id.in_(list(person_ids)),
            Series.source_id == source_id,
            Series.vantage == vantage,
            Series.role == "watch",
            Series.id.not_in(list(besides)),
        )
    )
    return {
        SeriesKey(person, term, source, series.vantage): state_of(series.detector_state, settings)
        for series, person, term, source in session.execute(q)
    }


def save_states(
    session: Session,
    states: Mapping[int, SeriesState],
    *,
    rechecks: Collection[int],
    recheck_after: timedelta,
    now: datetime,
) -> None:
    """Write back the detector states of the series checked in a round (one statement) and
    settle each one's early re-check: asked again for ``rechecks``, done for the others."""
    if not states:
        return
    t = cast(Table, Series.__table__)
    session.execute(
        update(t)
        .where(t.c.id == bindparam("sid"))
        .values(detector_state=bindparam("state"), next_check_at=bindparam("next")),
        [
            {
                "sid": series_id,
                "state": state.to_dict(),
                "next": now + recheck_after if series_id in rechecks else None,
            }
            for series_id, state in states.items()
        ],
    )


def save_health(
    session: Session,
    rnd: Round,
    src: SourceRow,
    health: SourceHealth,
    *,
    gated: bool,
    snapshot_ids: Iterable[int],
) -> None:
    """Write back the source's health at the round's vantage (``health_of``); a gated
    round (an engine incident) is flagged and its snapshots are kept out of every later
    baseline."""
    state = dict(src.health_state or {})
    if rnd.vantage == DEFAULT_VANTAGE:
        src.health_state = {**health.to_dict(), **_nested(state)}
    else:
        nested = dict(state.get(_VANTAGES) or {})
        nested[rnd.vantage] = health.to_dict()
        src.health_state = {**state, _VANTAGES: nested}
    if gated:
        rnd.incident = True
        mark_excluded(session, list(snapshot_ids))


def health_of(src: SourceRow, vantage: str) -> SourceHealth:
    """The source's health as seen from ``vantage``: each vantage its own (an engine may
    refuse one network and answer another). The default vantage's is the stored dict
    itself, as before cluster mode; another's is kept under ``vantages`` (until it has one,
    the stored dict: a single daemon that always had that vantage keeps its health)."""
    state = src.health_state or {}
    if vantage != DEFAULT_VANTAGE:
        state = (state.get(_VANTAGES) or {}).get(vantage, state)
    return SourceHealth.from_dict(state)


def _nested(state: Mapping[str, Any]) -> dict[str, Any]:
    return {_VANTAGES: state[_VANTAGES]} if _VANTAGES in state else {}


def move_episode(
    session: Session, event: Event, series_id: int | None, source_id: int
) -> Episode | None:
    """Open, move or close the episode row ``event`` belongs to (None: it belongs to none)."""
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


def open_drop_episodes(
    session: Session, person_id: int, source_id: int, vantage: str, *, besides: Collection[int]
) -> dict[int, int]:
    """Series id -> episode id of the person's drop episodes still open on the source (and
    vantage), leaving out the series ``besides``: is the person already in an episode?"""
    rows = session.execute(
        select(Episode.series_id, Episode.id)
        .join(Series, Series.id == Episode.series_id)
        .where(
            Series.person_id == person_id,
            Series.source_id == source_id,
            Series.vantage == vantage,
            Series.id.not_in(list(besides)),
            Episode.kind == "drop",
            Episode.state != "resolved",
        )
    ).all()
    return {int(sid): int(eid) for sid, eid in rows if sid is not None}


def last_rounds(session: Session) -> dict[str, datetime]:
    """Start time of the latest round of each source (scheduled or manual)."""
    rows = session.execute(
        select(SourceRow.name, func.max(Round.started_at))
        .join(Round, Round.source_id == SourceRow.id)
        .group_by(SourceRow.name)
    )
    return {name: started for name, started in rows if started is not None}


def due_rechecks(session: Session, now: datetime) -> dict[int, datetime]:
    """Series whose early re-check (asked for by the detector) is due: id -> due time."""
    rows = session.execute(
        select(Series.id, Series.next_check_at).where(
            Series.next_check_at.is_not(None), Series.next_check_at <= now
        )
    )
    return {sid: at for sid, at in rows if at is not None}


def rechecks_between(session: Session, after: datetime, before: datetime) -> dict[int, datetime]:
    """Series whose early re-check falls strictly between ``after`` and ``before``."""
    rows = session.execute(
        select(Series.id, Series.next_check_at).where(
            Series.next_check_at > after, Series.next_check_at < before
        )
    )
    return {sid: at for sid, at in rows if at is not None}
