"""A snapshot's body digest and log link are stored as 32 bytes each (``HexDigest``,
migration 0008) and read back as the same 64 hex digits: a log chained before the
migration still verifies after it, on either backend (the downgrade gives the hex text
back)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, text

from monitor.app import App, build
from monitor.config import parse_config
from monitor.core.observation import ImageItem, Observation, Status
from monitor.rounds.commit import Checked, RoundCommit
from monitor.store import migrate
from monitor.store.log_verify import verify
from monitor.store.models import LogHead, Snapshot

START = datetime(2021, 6, 1, tzinfo=UTC)
CONFIG = "people: [{name: Dong Jingwei}]\nsources: {baidu: {kind: baidu_images}}\n"


def _app(url: str, revision: str = "head") -> App:
    app = build(parse_config(CONFIG, "c.yaml", {}), database_url=url, channels=[])
    migrate.upgrade(app.engine, revision)
    return app


def _play(app: App, rounds: int) -> None:
    [ref] = [r for r in app.series() if r.role == "watch"]
    commit = RoundCommit(app.sessions, app.config, {"baidu": "chinese"}, channels=[])
    for n in range(rounds):
        at = START + n * timedelta(hours=6)
        items = [ImageItem(f"https://img.test/{i}.jpg") for i in range(5)]
        obs = Observation(Status.OK, items=items, raw=f"page {n}".encode())
        commit("baidu", [Checked(ref, obs, at, at)], at, "scheduled")


def _stored(app: App) -> list[tuple[Any, Any]]:
    with app.engine.connect() as conn:
        rows = conn.execute(text("SELECT body_sha256, log_hash FROM snapshots ORDER BY id"))
        return [tuple(r) for r in rows]


def test_digests_take_32_bytes_and_read_back_as_hex(db_url: str) -> None:
    app = _app(db_url)
    _play(app, 3)
    stored = _stored(app)
    with app.sessions() as session:
        snaps = session.scalars(select(Snapshot).order_by(Snapshot.id)).all()
        head = session.get(LogHead, 1)
        assert head is not None and head.head == snaps[-1].log_hash
        assert all(len(s.log_hash or "") == 64 and len(s.body_sha256 or "") == 64 for s in snaps)
        assert verify(session).ok
    assert all(len(bytes(b)) == 32 and len(bytes(h)) == 32 for b, h in stored)
    app.engine.dispose()


def test_a_log_stored_as_hex_text_verifies_after_the_migration(db_url: str) -> None:
    app = _app(db_url)
    _play(app, 3)
    as_bytes = _stored(app)
    migrate.downgrade(app.engine, "0007")  # the columns as they were: hex text
    before = _stored(app)
    assert before == [(bytes(b).hex(), bytes(h).hex()) for b, h in as_bytes]
    migrate.upgrade(app.engine)
    assert _stored(app) == as_bytes
    with app.sessions() as session:
        check = verify(session)
    assert check.ok and check.entries == 3, check.problems
    _play(app, 1)  # new rounds chain on from the migrated head
    with app.sessions() as session:
        check = verify(session)
    assert check.ok and check.entries == 4, check.problems
    app.engine.dispose()
