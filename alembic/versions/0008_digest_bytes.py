"""snapshots' body digest and log link stored as 32 bytes instead of 64 hex digits; the check_id index only where there is one

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08 02:20:00.000000

Each snapshot carried two SHA-256 digests as hex text (``body_sha256``, ``log_hash``):
128 bytes of a row of about 215. As bytes they take 64. The values do not change (the
model's ``HexDigest`` reads them back as the same hex), so the snapshot log's links, the
head and every exported bundle stay valid. A value that is not hex (edited by hand) is
kept as its UTF-8 bytes, so ``db verify`` still names it.

``ix_snapshots_check_id`` becomes partial (``WHERE check_id IS NOT NULL``): only a
cluster's checks have an id, so on a single daemon the index held one entry of NULL
per snapshot (12 bytes each) that no lookup ever reads. Unique as before.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import monitor.store.models

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ('body_sha256', 'log_hash')


# The model's type does the conversion both ways (bytes in, hex out; not hex: UTF-8 bytes).
_DIGEST = monitor.store.models.HexDigest()


def _to_bytes(value: str | None) -> bytes | None:
    return _DIGEST.process_bind_param(value, None)


def _to_hex(value: bytes | None) -> str | None:
    return _DIGEST.process_result_value(value, None)


def _convert(text_to_bytes: bool) -> None:
    """Rewrite both columns' values in batches of 5,000 rows (SQLite keeps the value's
    own type whatever the column's declared one, so values change before the type)."""
    conn = op.get_bind()
    snaps = sa.table('snapshots', sa.column('id'), *(sa.column(c) for c in _COLUMNS))
    convert = _to_bytes if text_to_bytes else _to_hex
    last = 0
    while True:
        rows = conn.execute(
            sa.select(snaps).where(snaps.c.id > last).order_by(snaps.c.id).limit(5000)
        ).all()
        if not rows:
            break
        last = rows[-1].id
        conn.execute(
            sa.update(snaps)
            .where(snaps.c.id == sa.bindparam('sid'))
            .values(body_sha256=sa.bindparam('b'), log_hash=sa.bindparam('h')),
            [
                {'sid': r.id, 'b': convert(r.body_sha256), 'h': convert(r.log_hash)}
                for r in rows
            ],
        )


_HAS_ID = sa.text('check_id IS NOT NULL')


def _index(partial: bool) -> None:
    op.drop_index('ix_snapshots_check_id', table_name='snapshots')
    where = {'sqlite_where': _HAS_ID, 'postgresql_where': _HAS_ID} if partial else {}
    op.create_index('ix_snapshots_check_id', 'snapshots', ['check_id'], unique=True, **where)


_HEX, _BYTES = sa.String(length=64), sa.LargeBinary(length=32)


def _retype(to_bytes: bool) -> None:
    """Both columns to bytes (or back to hex text), their values with them."""
    new, old = (_BYTES, _HEX) if to_bytes else (_HEX, _BYTES)
    if op.get_bind().dialect.name == 'postgresql':
        pg = "decode({}, 'hex')" if to_bytes else "encode({}, 'hex')"
        for column in _COLUMNS:
            op.alter_column(
                'snapshots', column, type_=new, existing_type=old, existing_nullable=True,
                postgresql_using=pg.format(column),
            )
        return
    _convert(text_to_bytes=to_bytes)
    with op.batch_alter_table('snapshots', schema=None) as batch_op:
        for column in _COLUMNS:
            batch_op.alter_column(column, type_=new, existing_type=old, existing_nullable=True)


def upgrade() -> None:
    _retype(to_bytes=True)
    _index(partial=True)  # last: SQLite's table rebuild copies plain indexes only


def downgrade() -> None:
    _index(partial=False)
    _retype(to_bytes=False)
