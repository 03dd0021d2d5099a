"""evidence: the kept response's final URL, status and request; alerts' holds on evidence

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 19:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import monitor.store.models

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    with op.batch_alter_table('raw_responses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('final_url', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('http_status', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('request', sa.Text(), nullable=True))
    op.create_table('evidence_holds',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('alert_id', _ID, nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('snapshot_id', _ID, nullable=True),
    sa.Column('image_id', _ID, nullable=True),
    sa.Column('created_at', monitor.store.models.UtcDateTime(timezone=True), nullable=False),
    sa.Column('released_at', monitor.store.models.UtcDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], name=op.f('fk_evidence_holds_alert_id_alerts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['image_id'], ['images.id'], name=op.f('fk_evidence_holds_image_id_images'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['snapshot_id'], ['snapshots.id'], name=op.f('fk_evidence_holds_snapshot_id_snapshots'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evidence_holds'))
    )
    with op.batch_alter_table('evidence_holds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_evidence_holds_alert_id'), ['alert_id'], unique=False)
        batch_op.create_index('ix_evidence_holds_image', ['image_id'], unique=False)
        batch_op.create_index('ix_evidence_holds_snapshot', ['snapshot_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('evidence_holds', schema=None) as batch_op:
        batch_op.drop_index('ix_evidence_holds_snapshot')
        batch_op.drop_index('ix_evidence_holds_image')
        batch_op.drop_index(batch_op.f('ix_evidence_holds_alert_id'))
    op.drop_table('evidence_holds')
    with op.batch_alter_table('raw_responses', schema=None) as batch_op:
        batch_op.drop_column('request')
        batch_op.drop_column('http_status')
        batch_op.drop_column('final_url')
