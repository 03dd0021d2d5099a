"""archive_captures and archive_cursors: the Save Page Now queue and what it archived

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 22:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import monitor.store.models

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('archive_captures',
    sa.Column('id', _ID, nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('url_hash', sa.LargeBinary(length=16), nullable=False),
    sa.Column('trigger', sa.String(length=16), nullable=False),
    sa.Column('trigger_key', sa.String(length=40), nullable=False),
    sa.Column('person_id', _ID, nullable=True),
    sa.Column('image_id', _ID, nullable=True),
    sa.Column('alert_id', _ID, nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('job_id', sa.String(length=200), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_at', monitor.store.models.UtcDateTime(timezone=True), nullable=False),
    sa.Column('created_at', monitor.store.models.UtcDateTime(timezone=True), nullable=False),
    sa.Column('submitted_at', monitor.store.models.UtcDateTime(timezone=True), nullable=True),
    sa.Column('archived_at', monitor.store.models.UtcDateTime(timezone=True), nullable=True),
    sa.Column('timestamp', sa.String(length=14), nullable=True),
    sa.Column('archive_url', sa.Text(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], name=op.f('fk_archive_captures_alert_id_alerts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['image_id'], ['images.id'], name=op.f('fk_archive_captures_image_id_images'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_archive_captures_person_id_people'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_archive_captures')),
    sa.UniqueConstraint('url_hash', 'trigger_key', name=op.f('uq_archive_captures_url_hash_trigger_key')),
    )
    with op.batch_alter_table('archive_captures', schema=None) as batch_op:
        batch_op.create_index('ix_archive_captures_alert', ['alert_id'], unique=False)
        batch_op.create_index('ix_archive_captures_due', ['state', 'next_at'], unique=False)
        batch_op.create_index('ix_archive_captures_image', ['image_id'], unique=False)
    op.create_table('archive_cursors',
    sa.Column('name', sa.String(length=16), nullable=False),
    sa.Column('last_id', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_archive_cursors')),
    )


def downgrade() -> None:
    op.drop_table('archive_cursors')
    with op.batch_alter_table('archive_captures', schema=None) as batch_op:
        batch_op.drop_index('ix_archive_captures_image')
        batch_op.drop_index('ix_archive_captures_due')
        batch_op.drop_index('ix_archive_captures_alert')
    op.drop_table('archive_captures')
