"""Checks that arrive after later checks of their series were judged: kept, not judged.

A cluster node that lost PostgreSQL spools its checks (``store.spool``) and forwards them
when the server answers again; by then the leader may have closed later rounds of the same
series with checks of other nodes, or its own made since. Such a check is still a
measurement (a count at its own time, in the snapshot counts, in the snapshot log), but it
is not news: fed to the detector after the later ones it would move a series' state
backwards in time, open or close an episode on stale evidence, or alert twice.

``judged_until(session, series_ids)`` says, per series, when its latest judged check
finished; a staged check that finished no later is late (``rounds.close``).
``store_late(session, source, vantage, checks)`` stores late checks as the snapshots of a
round of kind ``late`` with their own times, marked ``late``: no detector step, no state,
health, episode or alert, no kept body (a body kept as the series' healthy evidence must
be its latest), and no image sighting (``series_images`` describe the series' current
picture, which later checks gave). Reads of a series' latest check skip late snapshots.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session, aliased

from monitor.store import rounds as stored
from monitor.store import snapshot_log
from monitor.store.bulk import chunks
from monitor.store.models import Round, Series, Snapshot
from monitor.store.snapshot_batch import NewSnapshot, plan_snapshots, write_snapshots

LATE = "late"  # the kind of the rounds late checks are stored in


def judged_until(session: Session, series_ids: Collection[int]) -> dict[int, datetime]:
    """When the latest judged check (a snapshot not stored late) of each series finished;
    a series with none is absent. One index walk per series, however long its history."""
    inner = aliased(Snapshot)
    latest = (
        select(inner.id)
        .where(inner.series_id == Series.id, inner.late.is_(None))
        .order_by(inner.id.desc())
        .limit(1)
        .correlate(Series)
        .scalar_subquery()
    )
    out: dict[int, datetime] = {}
    for chunk in chunks(sorted(set(series_ids))):
        rows = session.execute(
            select(Snapshot.series_id, Snapshot.finished_at).where(
                Snapshot.id.in_(select(latest).where(Series.id.in_(chunk)))
            )
        )
        out.update({sid: at for sid, at in rows})
    return out


def store_late(session: Session, source: str, vantage: str, checks: Sequence[NewSnapshot]) -> Round:
    """Store ``checks`` (one per series) as the late round of ``source`` at ``vantage``
    (see the module docstring; caller commits); the round."""
    src = stored.source_for_write(session, source)
    started = min(c.started_at for c in checks)
    finished = max(c.finished_at for c in checks)
    rnd = stored.add_round(session, src, started, finished, LATE, vantage)
    plan = plan_snapshots(session, checks)
    plan.leaving.clear()  # no sighting opens or closes: later checks said what is current
    written = write_snapshots(session, plan, rnd.id)
    ids = list(written.ids.values())
    for chunk in chunks(ids):
        session.execute(update(Snapshot).where(Snapshot.id.in_(chunk)).values(late=True))
    snapshot_log.append(session, written.rows, finished, digests=written.digests)
    return rnd
