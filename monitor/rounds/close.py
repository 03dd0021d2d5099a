"""The leader's side of a cluster's rounds: closing each round once its checks are in.

A round is (source, vantage, slot) (``store.claims``). ``Closer.step`` looks at the open
ones, oldest first, and closes a round when every claim of it is done
(``slot_complete``) or its deadline passed (the slot's end plus the claim lease: a check
whose node died was redone meanwhile, or is given up). Closing reads the round's staged
checks, turns them back into ``Checked`` (``rounds.staging``) with the series' refs, and
runs the ordinary ``RoundCommit``: snapshots, the detector's step, episodes, alerts and
their deliveries, in one transaction that opens with the leader's fence
(``store.cluster.fence``: a leader whose epoch is stale writes nothing) and deletes the
staged rows and the round's claims. A round of one source and vantage is never closed
before an older one still waiting, so the detector sees each series' checks in time order.

Checks of one series twice in a round (two nodes that checked offline, a check redone
after its lease whose first copy came late from a spool) are all stored: as the round's
snapshots, then as a further round of the same slot. A check that finished no later than
its series' latest judged check (forwarded from a spool after later rounds closed) is late:
kept as a snapshot of its own time in a round of kind ``late``, never judged
(``store.late``), so it neither reorders nor reopens detection.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from monitor.config import Config
from monitor.core.clock import Clock
from monitor.rounds.checked import Checked
from monitor.rounds.commit import RoundCommit, snapshots_of
from monitor.rounds.staging import checked_of
from monitor.store import claims
from monitor.store.catalog import SeriesRef, refs_by_id, source_names
from monitor.store.cluster import fence
from monitor.store.db import retrying
from monitor.store.late import judged_until, store_late
from monitor.store.snapshot_batch import NewSnapshot
from monitor.store.spool import COLUMNS, StagedRow

logger = logging.getLogger(__name__)


class Closer:
    """Closes the cluster's finished rounds as the leader (see the module docstring)."""

    def __init__(
        self,
        commit: RoundCommit,
        sessions: sessionmaker[Session],
        config: Config,
        clock: Clock,
        *,
        lease: timedelta,
    ) -> None:
        self.commit = commit
        self.sessions = sessions
        self.config = config
        self.clock = clock
        self.lease = lease

    def step(self, epoch: int) -> int:
        """Close every round that is ready, leading under ``epoch`` (runs in a thread);
        how many rounds were closed. ``StaleEpoch`` stops it: another node leads."""
        with self.sessions() as session:
            pending = claims.open_rounds(session)
            names = source_names(session)
        waiting: set[tuple[int, str]] = set()
        closed = 0
        now = self.clock()
        for r in pending:
            key = (r.source_id, r.vantage)
            source = names.get(r.source_id, "")
            if key in waiting or source not in self.config.sources:
                # A source this leader's config does not have: left for one that has it
                # (nodes share one config; a reload in progress may differ for a moment).
                continue
            if not self._ready(source, r, now):
                waiting.add(key)  # its later rounds wait behind it
                continue
            closed += self.close(source, r, epoch)
        return closed

    def _ready(self, source: str, r: claims.OpenRound, now: datetime) -> bool:
        every = self.config.sources[source].every
        deadline = datetime.fromtimestamp((r.slot + 1) * every.total_seconds(), now.tzinfo)
        if now >= deadline + self.lease:
            return True
        with self.sessions() as session:
            return claims.slot_complete(session, r.source_id, r.vantage, r.slot)

    def close(self, source: str, r: claims.OpenRound, epoch: int) -> int:
        """Store the staged checks of round ``r`` (and any older left of its source and
        vantage) as rounds; drop its claims. Returns 1."""
        with self.sessions() as session:
            staged = claims.staged_for(session, r.source_id, r.vantage, up_to_slot=r.slot)
            rows = [{c: getattr(s, c) for c in COLUMNS} for s in staged]
            refs = refs_by_id(session, {row["series_id"] for row in rows})
            judged = judged_until(session, refs)
        late = [row for row in rows if _late(row, judged) and row["series_id"] in refs]
        if late:
            self._store_late(source, r, late, refs, epoch)
            rows = [row for row in rows if not (_late(row, judged) and row["series_id"] in refs)]

        def fenced(session: Session) -> None:
            fence(session, epoch)

        parts = _rounds_of(rows, refs)
        gone = [row["check_id"] for row in rows if row["series_id"] not in refs]
        for i, (part, ids) in enumerate(parts):
            last = i == len(parts) - 1

            def settle(session: Session, ids: list[str] = ids, last: bool = last) -> None:
                claims.delete_staged(session, ids + (gone if last else []))
                if last:
                    claims.drop_claims(session, r.source_id, r.vantage, r.slot)

            kind = "recheck" if all(row["kind"] == "recheck" for row in rows) else "scheduled"
            started = min(c.started_at for c in part)
            self.commit(source, part, started, kind, fence=fenced, settle=settle)
        if not parts:
            # No check arrived (or only of series no longer stored): the round ends empty.
            with self.sessions() as session, session.begin():
                fence(session, epoch)
                claims.delete_staged(session, [row["check_id"] for row in rows])
                claims.drop_claims(session, r.source_id, r.vantage, r.slot)
        logger.info(
            "round %d of %s at %s closed: %d check(s)%s",
            r.slot,
            source,
            r.vantage,
            len(rows),
            f" in {len(parts)} rounds" if len(parts) > 1 else "",
        )
        return 1

    def _store_late(
        self,
        source: str,
        r: claims.OpenRound,
        rows: list[StagedRow],
        refs: dict[int, SeriesRef],
        epoch: int,
    ) -> None:
        """Keep late ``rows`` as late rounds (one check per series each), unjudged, and
        drop them from the staging, under the fence."""
        for part, ids in _rounds_of(rows, refs):
            news = snapshots_of(part)

            def write(news: list[NewSnapshot] = news, ids: list[str] = ids) -> None:
                with self.sessions() as session, session.begin():
                    fence(session, epoch)
                    store_late(session, source, r.vantage, news)
                    claims.delete_staged(session, ids)

            retrying(write, what=f"late checks of {source}")
        logger.warning(
            "round %d of %s at %s: %d check(s) arrived after later ones were judged "
            "(forwarded from a spool): kept as a late round, not judged",
            r.slot,
            source,
            r.vantage,
            len(rows),
        )


def _late(row: StagedRow, judged: dict[int, datetime]) -> bool:
    """Whether the staged ``row`` finished no later than its series' latest judged check."""
    last = judged.get(row["series_id"])
    return last is not None and row["finished_at"] <= last


def _rounds_of(
    rows: Sequence[StagedRow], refs: dict[int, SeriesRef]
) -> list[tuple[list[Checked], list[str]]]:
    """The staged ``rows`` as rounds with one check per series each (in the order they
    were made: a series checked twice gets its second check in the next round), with the
    check ids each round settles."""
    parts: list[tuple[list[Checked], list[str]]] = []
    seen: dict[int, int] = {}
    for row in rows:
        ref = refs.get(row["series_id"])
        if ref is None:
            continue
        n = seen.get(ref.series_id, 0)
        seen[ref.series_id] = n + 1
        if n == len(parts):
            parts.append(([], []))
        parts[n][0].append(checked_of(row, ref))
        parts[n][1].append(row["check_id"])
    return parts
