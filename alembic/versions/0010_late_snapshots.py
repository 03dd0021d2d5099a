"""snapshots.late: a cluster's check stored after later checks of its series were judged

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08 04:20:00.000000

A node that lost PostgreSQL spools its checks and forwards them when the server is back;
by then the leader may have judged later rounds of the same series. Such a check is kept
as a snapshot of its own time in a round of kind ``late``, marked here (NULL for every
other snapshot: no byte on PostgreSQL beyond the null bitmap), so that the reads of a
series' latest check skip it and the detector never takes it for news.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('snapshots', schema=None) as batch_op:
        batch_op.add_column(sa.Column('late', sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('snapshots', schema=None) as batch_op:
        batch_op.drop_column('late')
