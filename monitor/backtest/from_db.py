"""Backtest input from the database: the snapshots already stored, read without writing.

``DatabaseReader`` yields the same ``Record``/``BadInput`` items as the JSON Lines reader
(``monitor.backtest.records``), in time order. SQLite is opened through a ``mode=ro`` URI, so
not even a pragma can change the file; other backends read in a read-only transaction that
is rolled back.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine, create_engine, select
from sqlalchemy.engine import make_url

from monitor.backtest.records import STATUSES, BadInput, Record, show
from monitor.core.errors import DatabaseError
from monitor.core.observation import Status
from monitor.detector.points import Point, SeriesKey
from monitor.store.db import create_db_engine, sqlite_path
from monitor.store.models import Image, ImageSetMember, Person, Series, Snapshot, SourceRow, Term

logger = logging.getLogger(__name__)


def open_read_only(url: str) -> Engine:
    """An engine that cannot write: SQLite through a ``mode=ro`` URI, others as they are
    (their reads run in read-only transactions, see ``DatabaseReader``)."""
    if make_url(url).get_backend_name() != "sqlite":
        return create_db_engine(url)
    path = sqlite_path(url)
    if path is None or not path.exists():
        raise DatabaseError(f"no database at {path or url} (run the daemon or `check` first)")
    uri = f"{path.resolve().as_uri().replace('file://', 'file:', 1)}?mode=ro"
    return create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True))


class DatabaseReader:
    """Reads the snapshots of a database as records, in time order, without writing.

    Snapshots are read in ``(finished_at, id)`` order, not ``id`` order alone: a round is
    written when it ends, so the rounds of sources checked at the same time interleave in
    time while their ids do not, and the detector needs time order. ``where`` is
    ``snapshot <id>``. Image URLs come from each snapshot's image set.
    """

    def __init__(self, url: str, *, chunk: int = 2000) -> None:
        self.url = url
        self.chunk = chunk
        self.lines = 0
        self.blank = 0
        self.bad = 0

    def __iter__(self) -> Iterator[Record | BadInput]:
        engine = open_read_only(self.url)
        try:
            with engine.connect() as conn:
                if engine.dialect.name == "postgresql":
                    conn.exec_driver_sql("SET TRANSACTION READ ONLY")
                q = (
                    select(
                        Snapshot.id,
                        Snapshot.finished_at,
                        Snapshot.status,
                        Snapshot.image_count,
                        Snapshot.domain_count,
                        Snapshot.image_set_id,
                        Person.name,
                        Term.text,
                        SourceRow.name,
                        Series.vantage,
                        Series.role,
                    )
                    .join(Series, Series.id == Snapshot.series_id)
                    .join(Person, Person.id == Series.person_id)
                    .join(Term, Term.id == Series.term_id)
                    .join(SourceRow, SourceRow.id == Series.source_id)
                    .order_by(Snapshot.finished_at, Snapshot.id)
                )
                result = conn.execution_options(yield_per=self.chunk).execute(q)
                for rows in result.partitions():
                    sets = self._image_sets(conn, {r[5] for r in rows if r[5] is not None})
                    for row in rows:
                        yield self._record(row, sets)
                conn.rollback()
        finally:
            engine.dispose()

    def _record(self, row: Any, sets: dict[int, tuple[str, ...]]) -> Record | BadInput:
        sid, t, status_text, count, domains, set_id, person, term, source, vantage, role = row
        self.lines += 1
        where = f"snapshot {sid}"
        status = STATUSES.get(status_text)
        try:
            if status is None:
                raise ValueError(f"unknown status {show(status_text)}")
            point = Point(t, status, count, domains, sid)
        except ValueError as exc:
            self.bad += 1
            return BadInput(where, str(exc))
        images = sets.get(set_id, ()) if status is Status.OK else None
        key = SeriesKey(person, term, source, vantage)
        return Record(where, key, "control" if role == "control" else "watch", point, images)

    @staticmethod
    def _image_sets(conn: Any, set_ids: set[int]) -> dict[int, tuple[str, ...]]:
        """Image URLs of the given sets, in result order (one query per chunk of records)."""
        members: dict[int, list[str]] = {i: [] for i in set_ids}
        if not set_ids:
            return {}
        q = (
            select(ImageSetMember.set_id, Image.image_url)
            .join(Image, Image.id == ImageSetMember.image_id)
            .where(ImageSetMember.set_id.in_(sorted(set_ids)))
            .order_by(ImageSetMember.set_id, ImageSetMember.position)
        )
        for set_id, url in conn.execute(q):
            members[set_id].append(url)
        return {k: tuple(v) for k, v in members.items()}
