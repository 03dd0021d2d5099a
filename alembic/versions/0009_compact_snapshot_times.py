"""snapshots' times stored as 8-byte integers on SQLite; ix_snapshots_round dropped

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08 04:30:00.000000

On SQLite a snapshot's ``started_at`` and ``finished_at`` were 26 characters of text each
(``2026-12-08 03:51:17.156352``); as integer microseconds since the Unix epoch (the model's
``UtcMicros``) they take 8 bytes each and keep the microsecond. PostgreSQL's
``timestamptz`` is 8 bytes already and stays as it is. The conversion runs in SQL, both
ways: the downgrade writes back the very text SQLAlchemy wrote.

``ix_snapshots_round`` (about 12 bytes a snapshot) served no query: every statement on
snapshots, explained over the test suite, looks them up by id, series or log position;
the index appeared only as the smallest one to count rows with, which
``ix_snapshots_log_seq`` does as well. Rounds are never deleted, so the foreign key's
``SET NULL`` never needs it either.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ('started_at', 'finished_at')
_TEXT, _MICROS = sa.DateTime(), sa.BigInteger()

# Text ('YYYY-MM-DD HH:MM:SS' and an optional fraction of up to 6 digits, naive UTC) to
# microseconds since the epoch, and back to SQLAlchemy's own form (always 6 digits).
_TO_MICROS = (
    "CAST(strftime('%s', substr({c}, 1, 19)) AS INTEGER) * 1000000"
    " + CAST(substr(substr({c}, 21) || '000000', 1, 6) AS INTEGER)"
)
_TO_TEXT = (
    "strftime('%Y-%m-%d %H:%M:%S', {c} / 1000000, 'unixepoch')"
    " || printf('.%06d', {c} % 1000000)"
)


def _convert(to_micros: bool) -> None:
    """Rewrite both columns' values to integers (or back to text), on SQLite: it keeps a
    value's own type whatever the column's declared one."""
    convert, kind = (_TO_MICROS, 'text') if to_micros else (_TO_TEXT, 'integer')
    for column in _COLUMNS:
        op.execute(
            f"UPDATE snapshots SET {column} = {convert.format(c=column)} "
            f"WHERE typeof({column}) = '{kind}'"
        )


def _declare(to_micros: bool) -> None:
    """Both columns declared as integers (or back as datetimes), on SQLite: a table rebuild
    that CASTs each value to the new declaration, so it runs where that CAST keeps the
    value: after the values became integers, before they become text again (text CAST to
    the datetime's NUMERIC affinity would keep only its year)."""
    new, old = (_MICROS, _TEXT) if to_micros else (_TEXT, _MICROS)
    with op.batch_alter_table('snapshots', schema=None) as batch_op:
        for column in _COLUMNS:
            batch_op.alter_column(column, type_=new, existing_type=old, existing_nullable=False)


def upgrade() -> None:
    op.drop_index('ix_snapshots_round', table_name='snapshots')
    if op.get_bind().dialect.name == 'sqlite':
        _convert(to_micros=True)
        _declare(to_micros=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        _declare(to_micros=False)
        _convert(to_micros=False)
    op.create_index('ix_snapshots_round', 'snapshots', ['round_id'], unique=False)
