"""alert_episodes: every episode a person alert covers, not only its headline term's

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 20:00:00.000000

Existing alerts are linked to their ``episode_id`` and to the episodes their payload's
``terms`` name (what was known of a person alert's other terms until now).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('alert_episodes',
    sa.Column('alert_id', _ID, nullable=False),
    sa.Column('episode_id', _ID, nullable=False),
    sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], name=op.f('fk_alert_episodes_alert_id_alerts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['episode_id'], ['episodes.id'], name=op.f('fk_alert_episodes_episode_id_episodes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('alert_id', 'episode_id', name=op.f('pk_alert_episodes'))
    )
    with op.batch_alter_table('alert_episodes', schema=None) as batch_op:
        batch_op.create_index('ix_alert_episodes_episode', ['episode_id'], unique=False)
    _backfill()


def _backfill() -> None:
    conn = op.get_bind()
    alerts = sa.table('alerts', sa.column('id'), sa.column('episode_id'), sa.column('payload', sa.JSON))
    episodes = sa.table('episodes', sa.column('id'))
    links = sa.table('alert_episodes', sa.column('alert_id'), sa.column('episode_id'))
    known = {int(i) for (i,) in conn.execute(sa.select(episodes.c.id))}
    rows: set[tuple[int, int]] = set()
    for alert_id, episode_id, payload in conn.execute(
        sa.select(alerts.c.id, alerts.c.episode_id, alerts.c.payload)
    ):
        ids: set[Any] = {episode_id}
        if isinstance(payload, dict):
            ids |= {t.get('episode_id') for t in payload.get('terms') or [] if isinstance(t, dict)}
        rows |= {(int(alert_id), int(e)) for e in ids if isinstance(e, int) and e in known}
    if rows:
        conn.execute(
            sa.insert(links), [{'alert_id': a, 'episode_id': e} for a, e in sorted(rows)]
        )


def downgrade() -> None:
    with op.batch_alter_table('alert_episodes', schema=None) as batch_op:
        batch_op.drop_index('ix_alert_episodes_episode')
    op.drop_table('alert_episodes')
