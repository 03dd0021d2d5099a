"""Bulk statements for SQLite and PostgreSQL: rows inserted many at a time, skipping those
whose unique key another writer took meanwhile, and ids looked up by key, in chunks small
enough for every backend's limit on bound parameters."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

CHUNK = 500  # rows (or IN-list values) per statement: far below every backend's limit


def insert_ignoring(
    session: Session, model: Any, rows: list[dict[str, Any]], *key: str
) -> dict[Any, int]:
    """Insert ``rows`` of ``model``, skipping those whose unique ``key`` is taken (by another
    writer meanwhile: ``ON CONFLICT DO NOTHING``), as one executemany statement (one
    compiled statement whatever the number of rows). With a one-column ``key``: that
    column's value -> id of every row, inserted now or before."""
    if not rows:
        return {}
    # The table, not the mapped class: the ORM's bulk path adds nothing here but its cost.
    table = model.__table__
    stmt = dialect_insert(session)(table).on_conflict_do_nothing(index_elements=list(key))
    session.execute(stmt, rows)
    if len(key) != 1:
        return {}
    column = getattr(model, key[0])
    return ids_of(session, column, model.id, [row[key[0]] for row in rows])


def ids_of(session: Session, column: Any, id_: Any, keys: Sequence[Any]) -> dict[Any, int]:
    """``column`` value -> id of the rows whose ``column`` is among ``keys`` (reads only)."""
    out: dict[Any, int] = {}
    for chunk in chunks(keys):
        rows = session.execute(select(column, id_).where(column.in_(chunk)))
        out.update({k: v for k, v in rows})
    return out


def dialect_insert(session: Session) -> Any:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert
    raise NotImplementedError(f"database backend {dialect} is not supported (SQLite, PostgreSQL)")


def chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]
