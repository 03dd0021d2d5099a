"""The declarative base every table shares: one naming convention (Alembic diffs stay
stable), big integer ids off SQLite, and aware UTC datetimes on every backend (compact
ones, ``UtcMicros``, where a row per check adds up)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite stores INTEGER PRIMARY KEY as the rowid; BIGINT elsewhere for long-lived installs.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every backend.

    SQLite has no time zones; storing naive UTC and re-attaching UTC on the way out keeps
    comparisons right everywhere.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class UtcMicros(TypeDecorator[datetime]):
    """Aware UTC datetimes, like ``UtcDateTime``, stored in 8 bytes on every backend.

    On SQLite as the integer microseconds since the Unix epoch (``UtcDateTime``'s text takes
    26 bytes; a snapshot has two), on PostgreSQL as its native ``timestamptz`` (8 bytes
    already). Nothing is lost: both keep the microsecond. Ordering and comparisons against
    bound datetimes work in SQL on both. A value stored as text (a row written by hand in
    ``UtcDateTime``'s form) is read back as the datetime it names.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Any) -> int | datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use aware UTC")
        if dialect.name == "sqlite":
            return (value - _EPOCH) // _MICROSECOND
        return value.astimezone(UTC)

    def process_result_value(
        self, value: int | str | datetime | None, dialect: Any
    ) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, int):
            return _EPOCH + timedelta(microseconds=value)
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class HexDigest(TypeDecorator[str]):
    """A SHA-256 digest stored as its 32 bytes, handed to Python as 64 hex digits.

    Half the bytes of the hex text on disk (two per snapshot: the body's digest and the
    snapshot log's link), while every reader and writer keeps the hex the log's rule
    (``core.loghash``) and the evidence bundles speak. A value that is not hex (a row
    edited by hand) is stored as its text and read back as it is, so ``db verify`` names
    it instead of crashing on it.
    """

    impl = LargeBinary(32)
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> bytes | None:
        if value is None:
            return None
        try:
            return bytes.fromhex(value)
        except ValueError:
            return value.encode()

    def process_result_value(self, value: bytes | str | None, dialect: Any) -> str | None:
        if value is None or isinstance(value, str):
            return value
        return bytes(value).hex()


class Base(DeclarativeBase):
    """Declarative base with a naming convention, so migrations name constraints stably."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
