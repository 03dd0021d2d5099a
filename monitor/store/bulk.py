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
    session: Session, model: Any, rows: list[dict[str, Any]], key: str
) -> dict[Any, int]:
    """Insert ``rows`` of ``model`` unless ``key`` is taken; ``key`` -> id of those inserted."""
    insert_of = dialect_insert(session)
    out: dict[Any, int] = {}
    column, id_ = getattr(model, key), model.id
    for chunk in chunks(rows):
        stmt = insert_of(model).values(chunk).on_conflict_do_nothing(index_elements=[key])
        out.update({k: v for k, v in session.execute(stmt.returning(column, id_))})
    return out


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
