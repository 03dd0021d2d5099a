"""snapshot log: each snapshot's body hash, position and link in the chain; the head; RFC 3161 tokens

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 22:30:00.000000

The existing snapshots are chained in id order (their insertion order). A snapshot whose
response body is still kept gets that body's SHA-256; the bodies of older ones were never
hashed, so the log names none for them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import monitor.store.models
from monitor.core import loghash  # the log's rule, version 1, fixed once written

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
_UTC = monitor.store.models.UtcDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table('snapshots', schema=None) as batch_op:
        batch_op.add_column(sa.Column('body_sha256', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('log_seq', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('log_hash', sa.String(length=64), nullable=True))
        batch_op.create_index('ix_snapshots_log_seq', ['log_seq'], unique=True)
    op.create_table('snapshot_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('head', sa.String(length=64), nullable=False),
    sa.Column('updated_at', _UTC, nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_snapshot_log'))
    )
    op.create_table('log_timestamps',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('head', sa.String(length=64), nullable=False),
    sa.Column('tsa_url', sa.Text(), nullable=False),
    sa.Column('token', sa.LargeBinary(), nullable=False),
    sa.Column('gen_time', _UTC, nullable=False),
    sa.Column('created_at', _UTC, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_log_timestamps'))
    )
    _backfill()


def _backfill() -> None:
    conn = op.get_bind()
    snaps = sa.table(
        'snapshots', sa.column('id'), sa.column('series_id'), sa.column('started_at', _UTC),
        sa.column('finished_at', _UTC), sa.column('status'), sa.column('reason'),
        sa.column('http_status'), sa.column('image_count'), sa.column('reported_total'),
        sa.column('domain_count'), sa.column('image_set_id'), sa.column('body_sha256'),
        sa.column('log_seq'), sa.column('log_hash'),
    )
    names = {
        sid: (p, t, s, v)
        for sid, p, t, s, v in conn.execute(sa.text(
            'SELECT series.id, people.name, terms.text, sources.name, series.vantage FROM series '
            'JOIN people ON people.id = series.person_id JOIN terms ON terms.id = series.term_id '
            'JOIN sources ON sources.id = series.source_id'
        ))
    }
    digests = dict(conn.execute(sa.text('SELECT id, digest FROM image_sets')).all())
    bodies = dict(conn.execute(sa.text('SELECT snapshot_id, sha256 FROM raw_responses')).all())
    seq, link, last = 0, loghash.GENESIS, 0
    while True:
        rows = conn.execute(
            sa.select(snaps).where(snaps.c.id > last).order_by(snaps.c.id).limit(5000)
        ).all()
        if not rows:
            break
        updates = []
        for r in rows:
            seq += 1
            body = bodies.get(r.id)
            link = loghash.link(link, loghash.entry(
                series=names.get(r.series_id, ('?', '?', '?', '?')),
                started_at=r.started_at, finished_at=r.finished_at, status=r.status,
                reason=r.reason, http_status=r.http_status, image_count=r.image_count,
                reported_total=r.reported_total, domain_count=r.domain_count,
                image_set=digests.get(r.image_set_id), body_sha256=body,
            ))
            updates.append({'sid': r.id, 'b': body, 's': seq, 'h': link})
        conn.execute(
            sa.update(snaps).where(snaps.c.id == sa.bindparam('sid'))
            .values(body_sha256=sa.bindparam('b'), log_seq=sa.bindparam('s'), log_hash=sa.bindparam('h')),
            updates,
        )
        last = rows[-1].id
    head = sa.table('snapshot_log', sa.column('id'), sa.column('seq'), sa.column('head'))
    conn.execute(sa.insert(head).values(id=1, seq=seq, head=link))


def downgrade() -> None:
    op.drop_table('log_timestamps')
    op.drop_table('snapshot_log')
    with op.batch_alter_table('snapshots', schema=None) as batch_op:
        batch_op.drop_index('ix_snapshots_log_seq')
        batch_op.drop_column('log_hash')
        batch_op.drop_column('log_seq')
        batch_op.drop_column('body_sha256')
