"""thumbnails: local copies of image thumbnails with perceptual hashes

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 06:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import monitor.store.models
# The model lives outside models.py; importing it here keeps Base.metadata complete for
# whoever compares it with the migrated schema (tests/test_migrations.py, autogenerate).


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('thumbnails',
    sa.Column('image_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('phash', sa.String(length=16), nullable=True),
    sa.Column('path', sa.Text(), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('content_type', sa.String(length=32), nullable=False),
    sa.Column('fetched_at', monitor.store.models.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['image_id'], ['images.id'], name=op.f('fk_thumbnails_image_id_images'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('image_id', name=op.f('pk_thumbnails'))
    )
    with op.batch_alter_table('thumbnails', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_thumbnails_phash'), ['phash'], unique=False)
        batch_op.create_index(batch_op.f('ix_thumbnails_sha256'), ['sha256'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('thumbnails', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_thumbnails_sha256'))
        batch_op.drop_index(batch_op.f('ix_thumbnails_phash'))

    op.drop_table('thumbnails')
