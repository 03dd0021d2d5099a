"""The node's local spool: checks made while PostgreSQL was out of reach, kept on disk until
they are forwarded.

A cluster node (``monitor.rounds.cluster``) stages each batch of checks in PostgreSQL; when
that fails (the server down, the network cut), it ``put``s the same rows here, a SQLite file
of its own (``cluster.spool``), and keeps measuring. ``forward(send)`` hands the rows to
``send`` oldest first, a batch at a time, and deletes a batch only after ``send`` returned,
that is after PostgreSQL committed it: a crash in between leaves the batch here, it is sent
again, and the staging in PostgreSQL (``ON CONFLICT (check_id) DO NOTHING``, and nothing for
a check already stored as a snapshot) keeps one copy. Nothing is lost, nothing doubled.

A row is a staged check as ``staged_checks`` holds it (column name -> value; the datetimes
aware UTC, ``observation`` a JSON-able dict, ``body`` the gzip bytes or None): the spool
stores it as it is and gives it back the same.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    delete,
    func,
    select,
)
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from monitor.core.errors import DatabaseError
from monitor.store.db import create_db_engine
from monitor.store.models.base import UtcDateTime

logger = logging.getLogger(__name__)
StagedRow = dict[str, Any]

_meta = MetaData()
spooled = Table(
    "spooled_checks",
    _meta,
    # The order checks were spooled in: forwarded in that order.
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("check_id", String(36), nullable=False, unique=True),
    Column("source_id", Integer, nullable=False),
    Column("vantage", String(64), nullable=False),
    Column("slot", BigInteger, nullable=False),
    Column("series_id", Integer, nullable=False),
    Column("node", String(100), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=False),
    Column("observation", Text, nullable=False),  # JSON
    Column("body", LargeBinary),
    Column("body_sha256", String(64)),
    Column("body_size", Integer),
    Column("staged_at", UtcDateTime, nullable=False),
)
COLUMNS = tuple(c.name for c in spooled.columns if c.name != "seq")


class Spool:
    """A SQLite file of staged checks waiting for PostgreSQL (see module docstring).

    Used from one process (the node's jobs run its calls in threads: SQLite's own locking
    and the busy timeout order them)."""

    def __init__(self, path: Path) -> None:
        if not path.parent.is_dir():
            raise DatabaseError(f"cluster.spool: directory {path.parent} does not exist")
        self.path = path
        self.engine = create_db_engine(f"sqlite:///{path}")
        _meta.create_all(self.engine)

    def put(self, rows: Sequence[Mapping[str, Any]]) -> int:
        """Keep ``rows`` (a check id already spooled is kept once); returns how many."""
        if not rows:
            return 0
        values = [{**{c: r.get(c) for c in COLUMNS}, "observation": _dump(r)} for r in rows]
        stmt = sqlite_insert(spooled).on_conflict_do_nothing(index_elements=["check_id"])
        with self.engine.begin() as conn:
            conn.execute(stmt, values)
        return len(values)

    def depth(self) -> int:
        """How many checks wait to be forwarded."""
        with self.engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(spooled)) or 0)

    def oldest(self, limit: int) -> list[StagedRow]:
        """The ``limit`` checks spooled first, as they were put."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(spooled).order_by(spooled.c.seq).limit(limit)).mappings()
            return [_load(r) for r in rows]

    def forward(self, send: Callable[[list[StagedRow]], Any], *, batch: int = 100) -> int:
        """Hand every spooled check to ``send``, oldest first, ``batch`` at a time; a batch
        leaves the spool only once ``send`` returned (it committed). An exception from
        ``send`` stops the forwarding, the batch stays. Returns how many were forwarded."""
        done = 0
        while rows := self.oldest(batch):
            send(rows)
            ids = [r["check_id"] for r in rows]
            with self.engine.begin() as conn:
                conn.execute(delete(spooled).where(spooled.c.check_id.in_(ids)))
            done += len(rows)
            logger.info("spool: forwarded %d check(s), %d left", len(rows), self.depth())
        return done

    def remove(self, check_ids: Sequence[str]) -> None:
        """Drop these checks (tests; an operator's clean-up)."""
        with self.engine.begin() as conn:
            conn.execute(delete(spooled).where(spooled.c.check_id.in_(list(check_ids))))

    def close(self) -> None:
        self.engine.dispose()


def _dump(row: Mapping[str, Any]) -> str:
    return json.dumps(row["observation"], ensure_ascii=False, separators=(",", ":"))


def _load(row: Any) -> StagedRow:
    out = {c: row[c] for c in COLUMNS}
    out["observation"] = json.loads(row["observation"])
    return out
