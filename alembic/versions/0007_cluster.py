"""cluster mode: nodes, leadership, check_claims, staged_checks; snapshots.check_id, rounds.vantage

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08 02:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import monitor.store.models

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
_TIME = monitor.store.models.UtcDateTime(timezone=True)


def upgrade() -> None:
    op.create_table('nodes',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('vantage', sa.String(length=64), nullable=False),
    sa.Column('version', sa.String(length=32), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('started_at', _TIME, nullable=False),
    sa.Column('last_seen', _TIME, nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('spool_depth', sa.Integer(), nullable=False),
    sa.Column('stopped', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_nodes')),
    )
    leadership = op.create_table('leadership',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('epoch', sa.BigInteger(), nullable=False),
    sa.Column('node', sa.String(length=100), nullable=True),
    sa.Column('lease_until', _TIME, nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_leadership')),
    )
    # The one row every take-over increments; it exists from the start so that the
    # fencing read (SELECT ... FOR SHARE) always has a row to lock.
    op.bulk_insert(leadership, [{'id': 1, 'epoch': 0, 'node': None, 'lease_until': None}])
    op.create_table('check_claims',
    sa.Column('source_id', _ID, nullable=False),
    sa.Column('vantage', sa.String(length=64), nullable=False),
    sa.Column('slot', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('series_id', _ID, nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('node', sa.String(length=100), nullable=True),
    sa.Column('lease_until', _TIME, nullable=True),
    sa.Column('done_at', _TIME, nullable=True),
    sa.ForeignKeyConstraint(['series_id'], ['series.id'], name=op.f('fk_check_claims_series_id_series'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['source_id'], ['sources.id'], name=op.f('fk_check_claims_source_id_sources'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('source_id', 'vantage', 'slot', 'series_id', name=op.f('pk_check_claims')),
    )
    with op.batch_alter_table('check_claims', schema=None) as batch_op:
        batch_op.create_index('ix_check_claims_open', ['source_id', 'vantage', 'slot', 'done_at'], unique=False)
    op.create_table('staged_checks',
    sa.Column('check_id', sa.String(length=36), nullable=False),
    sa.Column('source_id', _ID, nullable=False),
    sa.Column('vantage', sa.String(length=64), nullable=False),
    sa.Column('slot', sa.BigInteger(), nullable=False),
    sa.Column('series_id', _ID, nullable=False),
    sa.Column('node', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('started_at', _TIME, nullable=False),
    sa.Column('finished_at', _TIME, nullable=False),
    sa.Column('observation', sa.JSON(), nullable=False),
    sa.Column('body', sa.LargeBinary(), nullable=True),
    sa.Column('body_sha256', sa.String(length=64), nullable=True),
    sa.Column('body_size', sa.Integer(), nullable=True),
    sa.Column('staged_at', _TIME, nullable=False),
    sa.ForeignKeyConstraint(['series_id'], ['series.id'], name=op.f('fk_staged_checks_series_id_series'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['source_id'], ['sources.id'], name=op.f('fk_staged_checks_source_id_sources'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('check_id', name=op.f('pk_staged_checks')),
    )
    with op.batch_alter_table('staged_checks', schema=None) as batch_op:
        batch_op.create_index('ix_staged_checks_round', ['source_id', 'vantage', 'slot'], unique=False)
    with op.batch_alter_table('snapshots', schema=None) as batch_op:
        batch_op.add_column(sa.Column('check_id', sa.String(length=36), nullable=True))
        batch_op.create_index('ix_snapshots_check_id', ['check_id'], unique=True)
    with op.batch_alter_table('rounds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('vantage', sa.String(length=64), server_default='default', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('rounds', schema=None) as batch_op:
        batch_op.drop_column('vantage')
    with op.batch_alter_table('snapshots', schema=None) as batch_op:
        batch_op.drop_index('ix_snapshots_check_id')
        batch_op.drop_column('check_id')
    with op.batch_alter_table('staged_checks', schema=None) as batch_op:
        batch_op.drop_index('ix_staged_checks_round')
    op.drop_table('staged_checks')
    with op.batch_alter_table('check_claims', schema=None) as batch_op:
        batch_op.drop_index('ix_check_claims_open')
    op.drop_table('check_claims')
    op.drop_table('leadership')
    op.drop_table('nodes')
