"""SQL of the episodes an alert covers (``alert_episodes``).

A person alert is one alert for all the person's terms on a source: its row names the
headline term's series and episode, this table every episode it covers, also those folded
into it in later rounds (another term dropping, or recovering, while the person is still
down). So the person's episode is reachable from any of its terms' episodes: later evidence
is held by the alert it belongs to, and the final recovery knows which terms recovered
earlier. Functions take the caller's ``Session`` and never commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.store.models import AlertEpisode, Episode, Series, Term


class CoveredEpisode(NamedTuple):
    """An episode an alert covers, with the term of its series."""

    episode_id: int
    term: str
    state: str
    opened_at: datetime
    closed_at: datetime | None


def link(session: Session, alert_id: int, episode_ids: Iterable[int | None]) -> None:
    """Record that ``alert_id`` covers ``episode_ids`` (links it has already are kept once)."""
    wanted = {e for e in episode_ids if e is not None}
    if not wanted:
        return
    have = set(
        session.scalars(
            select(AlertEpisode.episode_id).where(
                AlertEpisode.alert_id == alert_id, AlertEpisode.episode_id.in_(wanted)
            )
        )
    )
    session.add_all(AlertEpisode(alert_id=alert_id, episode_id=e) for e in sorted(wanted - have))
    session.flush()


def alert_of_episodes(session: Session, episode_ids: Iterable[int | None]) -> int | None:
    """The first alert covering any of ``episode_ids`` (a person's drop episodes): the alert
    that later evidence of the person's episode belongs to."""
    ids = [e for e in episode_ids if e is not None]
    if not ids:
        return None
    return session.scalar(
        select(AlertEpisode.alert_id)
        .where(AlertEpisode.episode_id.in_(ids))
        .order_by(AlertEpisode.alert_id)
        .limit(1)
    )


def covered_episodes(session: Session, alert_id: int) -> list[CoveredEpisode]:
    """The series episodes ``alert_id`` covers, oldest first, each with its term."""
    rows = session.execute(
        select(Episode.id, Term.text, Episode.state, Episode.opened_at, Episode.closed_at)
        .join(AlertEpisode, AlertEpisode.episode_id == Episode.id)
        .join(Series, Series.id == Episode.series_id)
        .join(Term, Term.id == Series.term_id)
        .where(AlertEpisode.alert_id == alert_id)
        .order_by(Episode.id)
    )
    return [CoveredEpisode(int(i), t, s, o, c) for i, t, s, o, c in rows]
