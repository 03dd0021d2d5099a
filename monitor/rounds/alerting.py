"""The rows one alert leaves in a round's transaction: its episodes, its outbox row and
deliveries, and its hold on the evidence.

An alert is a person's (``monitor.alerts.people``): the events one round found for a
person's terms on the source arrive together as a group and become one payload. A person in
an episode already (another of their terms dropped in an earlier round) gets no second drop,
and recovers with their last term: a term recovering while another is still down is no
alert either. Such a folded event still moves its series' episode, the person's alert
covers that episode too (``store.alert_episodes``) and holds its evidence. The person's next
alert on the source (a partial, the final recovery) lists the terms that recovered in the
meantime as ``recovered``, with their episode. A person alert also says what the other
vantage points see of the person on the source (``store.vantage_reads``,
``alerts.vantages``). ``RoundCommit`` calls ``write_alert`` inside its transaction; nothing
here commits.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from monitor.alerts.events import episode_info, payload_of
from monitor.alerts.people import PERSON_EVENTS, Group, Standing
from monitor.alerts.schema import VanishedImage
from monitor.detector.events import Event
from monitor.detector.points import SeriesKey
from monitor.detector.settings import DetectionSettings
from monitor.store import alert_episodes as covers
from monitor.store import outbox
from monitor.store import rounds as stored
from monitor.store.alert_episodes import CoveredEpisode
from monitor.store.catalog import SeriesRef
from monitor.store.evidence import pre_drop_snapshot, vanished_images
from monitor.store.models import Episode, Round, SourceRow
from monitor.store.retention import hold
from monitor.store.vantage_reads import other_vantages

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class At:
    """Where an alert is written: the round, its source, the time, the configured vantage
    and the channels that get a delivery."""

    rnd: Round
    src: SourceRow
    now: datetime
    vantage: str
    channels: Sequence[str]


def _ref(event: Event, at: At, refs: Mapping[SeriesKey, SeriesRef]) -> SeriesRef | None:
    if event.person is None or event.term is None:
        return None
    return refs.get(SeriesKey(event.person, event.term, event.source, event.vantage or at.vantage))


def write_alert(
    session: Session,
    group: Group,
    at: At,
    refs: Mapping[SeriesKey, SeriesRef],
    snapshot_ids: Mapping[int, int],
    quiet: Sequence[Standing],
    *,
    detection: DetectionSettings,
) -> None:
    """The evidence, episodes and outbox row of one alert (see module docstring);
    ``detection`` are the source's settings (to read the other vantages' states)."""
    head, src, now = group[0], at.src, at.now
    found = [(e, _ref(e, at, refs)) for e in group]
    mine = [r for _, r in found if r is not None]
    person_id = mine[0].person_id if mine else None
    vantage = head.vantage or at.vantage
    besides = [r.series_id for r in mine]
    still_open: dict[int, int] = {}
    if head.event == "drop" and person_id is not None:
        still_open = stored.open_drop_episodes(session, person_id, src.id, vantage, besides=besides)
    vanished: dict[str, dict[int, VanishedImage]] = {}
    episodes: dict[str, int | None] = {}
    held: dict[int, str] = {}
    lead: tuple[int | None, Episode | None] = (None, None)
    for event, ref in found:
        series_id = ref.series_id if ref else None
        held.update(_held(session, event, series_id))
        if series_id is not None and event.event in ("drop", "partial"):
            vanished[event.term or ""] = vanished_images(session, series_id, event)
        episode = stored.move_episode(session, event, series_id, src.id)
        if event.term is not None:
            episodes[event.term] = episode.id if episode else None
        if event is head:
            lead = (series_id, episode)
    if head.event == "recovered" and person_id is not None:
        still_open = stored.open_drop_episodes(session, person_id, src.id, vantage, besides=besides)
    images = [i for per_term in vanished.values() for i in per_term]
    if still_open:
        logger.info(
            "%s of %s on %s belongs to the person's open episode(s) %s: no new alert",
            head.event,
            head.person,
            head.source,
            ", ".join(f"#{e}" for e in sorted(still_open.values())),
        )
        alert_id = covers.alert_of_episodes(session, still_open.values())
        if alert_id is not None:
            hold(session, alert_id, held, images, now)
            covers.link(session, alert_id, episodes.values())
        return
    if head.event in ("partial", "recovered"):
        # The person's episode goes on (or ends) here: its alert knows every term's episode.
        first = covers.alert_of_episodes(session, episodes.values())
        if first is not None:
            quiet = _in_episode(quiet, covers.covered_episodes(session, first))
    series_id, episode = lead
    snapshot_id = snapshot_ids.get(series_id) if series_id is not None else None
    info = (
        episode_info(head, episode_id=episode.id, state=episode.state)
        if episode is not None
        else episode_info(head, episode_id=series_id or 0)
    )
    seen_from = (
        other_vantages(
            session,
            person_id=person_id,
            source_id=src.id,
            vantage=vantage,
            at=now,
            settings=detection,
            metric=head.metric,
        )
        if person_id is not None and head.event in PERSON_EVENTS
        else []
    )
    payload = payload_of(
        group,
        alert_id=0,
        episode=info,
        vanished={term: list(v.values()) for term, v in vanished.items()},
        episodes=episodes,
        quiet=quiet,
        vantages=seen_from,
    )
    # Drops (and recoveries) found in one round on one source go out as one message.
    grouped = head.event in ("drop", "partial", "recovered")
    alert = outbox.enqueue(
        session,
        payload=dict(payload),
        channels=at.channels,
        now=now,
        group_key=f"round:{at.rnd.id}:{head.event}" if grouped else None,
        person_id=person_id,
        source_id=src.id,
        series_id=series_id,
        episode_id=episode.id if episode else None,
        snapshot_id=snapshot_id,
    )
    hold(session, alert.id, held, images, now)
    covers.link(session, alert.id, [*episodes.values(), *(q.episode_id for q in quiet)])


def _in_episode(quiet: Sequence[Standing], covered: Sequence[CoveredEpisode]) -> list[Standing]:
    """``quiet`` with each term's latest episode among ``covered`` (the person's episode):
    a term whose episode is resolved recovered earlier, while another term was down."""
    latest = {c.term: c for c in covered}  # oldest first: the last one wins
    out = []
    for q in quiet:
        c = latest.get(q.figures.term)
        if c is None:
            out.append(q)
            continue
        recovered = c.closed_at if c.state == "resolved" else None
        out.append(q._replace(episode_id=c.episode_id, recovered_at=recovered))
    return out


def _held(session: Session, event: Event, series_id: int | None) -> dict[int, str]:
    """The responses an event's alert holds (snapshot id -> role): for a drop or a partial,
    the last answer before the first sign and every confirming check; for a recovery, the
    first recovered answer."""
    ids = event.snapshot_ids
    if series_id is None or not ids:
        return {}
    if event.event == "recovered":
        return {min(ids): "recovery"}
    if event.event not in ("drop", "partial"):
        return {}
    held = {}
    before = pre_drop_snapshot(session, series_id, min(ids))
    if before is not None:
        held[before] = "pre_drop"
    held.update(dict.fromkeys(ids, "confirming"))
    return held
