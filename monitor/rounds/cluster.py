"""A cluster node's share of the rounds: claim checks, make them, stage them (or spool them).

Every node of a vantage ticks each source at the same slot (``store.claims.slot_of``). At a
tick the node makes sure the round's claims exist (``ensure_claims``, one per series of
its vantage; the first node creates them), then ``work``s: it claims a batch (``claim``:
``FOR UPDATE SKIP LOCKED``, so two nodes never get the same series), checks it with the
ordinary check machinery (``Rounds.check_one``: the node's own per-host limits, its parse
workers), and in one transaction marks the claims it still holds done and stages their
checks (``finish_claims`` + ``stage``); then the next batch, until none is left. ``work``
also takes claims of earlier rounds of the source still open whose lease ran out (a node
that died or stalled holding them): the daemon calls it between ticks too.

When PostgreSQL cannot be reached (at the tick, or while staging a batch) the node keeps
measuring: it checks the series it has not checked in this round and puts the checks into
its spool (``store.spool``), which ``forward`` sends on once PostgreSQL answers again. The
leader (``rounds.close``) turns staged checks into the round's snapshots; the checks made
offline by two nodes of one vantage may both arrive, and are then stored as two rounds.

Nothing here writes a snapshot or judges one: that is the leader's, once, for everyone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from monitor.rounds.checked import Checked
from monitor.rounds.runner import Rounds
from monitor.rounds.staging import new_check_id, staged_row
from monitor.store import claims
from monitor.store.bodies import healthy_digests
from monitor.store.catalog import SeriesRef
from monitor.store.db import first_line, unreachable
from monitor.store.spool import Spool, StagedRow

logger = logging.getLogger(__name__)


class NodeRounds:
    """One node's claims, checks and staging (see the module docstring)."""

    def __init__(
        self,
        rounds: Rounds,
        sessions: sessionmaker[Session],
        spool: Spool,
        *,
        node: str,
        lease: timedelta,
        batch: int,
    ) -> None:
        self.rounds = rounds
        self.sessions = sessions
        self.spool = spool
        self.node = node
        self.lease = lease
        self.batch = batch
        self.config = rounds.config
        self.clock = rounds.clock
        self._waiting = False  # the last forward found the database unreachable

    def slot(self, source: str, at: datetime) -> int:
        """The round number of ``source`` at ``at``."""
        return claims.slot_of(at, self.config.sources[source].every)

    async def tick(
        self,
        source: str,
        refs: Sequence[SeriesRef],
        kind: str = "scheduled",
        *,
        slot: int | None = None,
    ) -> int:
        """The node's part of round ``slot`` (default: the current one) of ``source``
        (``refs``: its series at this node's vantage; a re-check passes only those due,
        with the controls); returns how many checks this node made."""
        if not refs:
            return 0
        slot = self.slot(source, self.clock()) if slot is None else slot
        ids = [r.series_id for r in refs]

        def ensure() -> None:
            with self.sessions() as session, session.begin():
                claims.ensure_claims(session, refs[0].source_id, refs[0].vantage, slot, ids, kind)

        try:
            await asyncio.to_thread(ensure)
        except DBAPIError as exc:
            if not unreachable(exc):
                raise
            return await self._offline(source, refs, slot, kind, exc)
        return await self.work(source, refs)

    async def work(self, source: str, refs: Sequence[SeriesRef]) -> int:
        """Claim, check and stage batches of the open rounds of ``source`` at this node's
        vantage, oldest round first, until nothing is left to claim; the checks made."""
        if not refs:
            return 0
        source_id, vantage = refs[0].source_id, refs[0].vantage
        by_id = {r.series_id: r for r in refs}
        made = 0
        try:
            slots = await asyncio.to_thread(self._open_slots, source_id, vantage)
        except DBAPIError as exc:
            if not unreachable(exc):
                raise
            return 0  # between ticks: nothing claimed, nothing to spool
        for slot, kind in slots:
            while True:
                try:
                    taken, kept = await asyncio.to_thread(self._claim, source_id, vantage, slot)
                except DBAPIError as exc:
                    if not unreachable(exc):
                        raise
                    return made
                batch = [by_id[s] for s in taken if s in by_id]
                if not batch:
                    break
                checked = await asyncio.gather(
                    *(self.rounds.check_one(r, kept.get(r.series_id)) for r in batch)
                )
                made += len(checked)
                rows = self._rows(checked, slot, kind)
                try:
                    await asyncio.to_thread(self._stage, source_id, vantage, slot, rows)
                except DBAPIError as exc:
                    if not unreachable(exc):
                        raise
                    self._spool(rows)
                    rest = [r for r in refs if r.series_id not in set(taken)]
                    return made + await self._offline(source, rest, slot, kind, exc)
        return made

    def _open_slots(self, source_id: int, vantage: str) -> list[tuple[int, str]]:
        """The rounds of the source at ``vantage`` with claims open, oldest first, each
        with the kind of its claims."""
        with self.sessions() as session:
            return claims.open_claim_slots(session, source_id, vantage)

    def _claim(self, source_id: int, vantage: str, slot: int) -> tuple[list[int], dict[int, str]]:
        """A batch of claims for this node (committed at once, so another node skips
        them), with the kept healthy body's digest of each series (an unchanged body is
        then staged as its digest only)."""
        with self.sessions() as session, session.begin():
            taken = claims.claim(
                session, source_id, vantage, slot, self.node, self.clock(), self.lease, self.batch
            )
        kept: dict[int, str] = {}
        if taken and self.config.evidence.keep_raw:
            with self.sessions() as session:
                kept = healthy_digests(session, taken)
        return taken, kept

    def _stage(self, source_id: int, vantage: str, slot: int, rows: list[StagedRow]) -> None:
        """Finish the claims this node still holds and stage their checks, together."""
        with self.sessions() as session, session.begin():
            done = claims.finish_claims(
                session,
                source_id,
                vantage,
                slot,
                self.node,
                [r["series_id"] for r in rows],
                self.clock(),
            )
            claims.stage(session, [r for r in rows if r["series_id"] in done])
        if len(done) < len(rows):
            logger.warning(
                "round %d: %d check(s) not staged: their lease ran out (another node redoes "
                "them) or the round was closed without them",
                slot,
                len(rows) - len(done),
            )

    async def _offline(
        self,
        source: str,
        refs: Sequence[SeriesRef],
        slot: int,
        kind: str,
        exc: BaseException,
    ) -> int:
        """Check ``refs`` without claims and spool them: PostgreSQL is out of reach."""
        logger.warning(
            "round %d of %s: the database is unreachable (%s); checking %d series into the spool",
            slot,
            source,
            first_line(exc),
            len(refs),
        )
        checked = await asyncio.gather(*(self.rounds.check_one(r) for r in refs))
        self._spool(self._rows(checked, slot, kind))
        return len(checked)

    def _spool(self, rows: list[StagedRow]) -> None:
        self.spool.put(rows)
        logger.info("spooled %d check(s); %d wait for the database", len(rows), self.spool.depth())

    def _rows(self, checked: Sequence[Checked], slot: int, kind: str) -> list[StagedRow]:
        now = self.clock()
        return [
            staged_row(
                c, check_id=new_check_id(), slot=slot, node=self.node, kind=kind, staged_at=now
            )
            for c in checked
        ]

    def forward(self) -> int:
        """Send the spool on to PostgreSQL (runs in a thread); how many checks went. A
        database still unreachable leaves the rest for the next time."""
        if self.spool.depth() == 0:
            return 0

        def send(rows: list[StagedRow]) -> None:
            with self.sessions() as session, session.begin():
                claims.stage(session, rows)

        try:
            done = self.spool.forward(send, batch=self.batch)
        except DBAPIError as exc:
            if not unreachable(exc):
                raise
            # Once per outage: the forward is tried every few seconds until it answers.
            log = logger.debug if self._waiting else logger.info
            log("spool: the database is still unreachable (%s)", first_line(exc))
            self._waiting = True
            return 0
        self._waiting = False
        return done
