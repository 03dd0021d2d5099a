"""Readers never wait for the writer; writers that collide run again; the event loop never
waits on the database (SQLite, and PostgreSQL where ABSENCE_TEST_POSTGRES_URL is set)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from monitor.app import App, build
from monitor.config import parse_config
from monitor.core.clock import FakeClock
from monitor.core.observation import ImageItem, Observation, Status
from monitor.store.db import lock_waits, retrying
from monitor.store.models import Image, Snapshot
from monitor.store.snapshots import record_snapshot
from tests.helpers.delivery import NOW, FakeChannel, add_alert, deliveries, new_db


def held_write_lock(path: Path) -> sqlite3.Connection:
    """Another process's round in the middle of its write transaction."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("UPDATE sources SET name = name")
    return conn


def test_a_read_during_a_write_transaction_does_not_wait_for_it(tmp_path: Path) -> None:
    path, _, sessions = new_db(tmp_path)
    add_alert(sessions, ["webhook:ops"])
    writer = held_write_lock(path)
    try:
        started = time.monotonic()
        [row] = deliveries(sessions)  # a deferred read: no lock to wait for
        assert time.monotonic() - started < 1.0  # the busy timeout is 2 s
        assert row.state == "pending"
    finally:
        writer.rollback()


def test_a_write_waits_for_the_lock_and_its_wait_is_recorded(tmp_path: Path) -> None:
    path, engine, sessions = new_db(tmp_path)
    writer = held_write_lock(path)
    done = threading.Event()

    def write() -> None:
        add_alert(sessions, ["webhook:ops"])
        done.set()

    thread = threading.Thread(target=write)
    thread.start()
    assert not done.wait(0.3)  # BEGIN IMMEDIATE waits for the other writer
    writer.rollback()
    assert done.wait(5)
    thread.join()
    assert lock_waits(engine).longest >= 0.3 and len(deliveries(sessions)) == 1


async def test_the_dispatcher_leaves_the_event_loop_free_while_a_round_holds_the_lock(
    tmp_path: Path,
) -> None:
    from monitor.channels.dispatch import Dispatcher

    path, _, sessions = new_db(tmp_path)
    add_alert(sessions, ["webhook:ops"])
    hook = FakeChannel("webhook:ops")
    dispatcher = Dispatcher(sessions, {hook.name: hook}, clock=FakeClock(NOW))
    writer = held_write_lock(path)
    step = asyncio.create_task(dispatcher.step())
    ticks = 0
    for _ in range(20):  # the loop keeps turning while the claim waits for the lock
        await asyncio.sleep(0.01)
        ticks += 1
    assert not step.done() and ticks == 20
    writer.rollback()  # released from the event loop: a blocked loop would deadlock here
    result = await asyncio.wait_for(step, 5)
    assert result.delivered == 1 and len(hook.sent) == 1


def test_a_write_that_collides_runs_again_and_any_other_error_is_raised_at_once() -> None:
    calls: list[int] = []
    slept: list[float] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise OperationalError(
                "BEGIN IMMEDIATE", {}, sqlite3.OperationalError("database is locked")
            )
        return "written"

    assert retrying(flaky, what="a round", sleep=slept.append) == "written"
    assert len(calls) == 3 and len(slept) == 2

    def broken() -> str:
        raise OperationalError("INSERT", {}, sqlite3.OperationalError("disk I/O error"))

    with pytest.raises(OperationalError):
        retrying(broken, what="a round", sleep=slept.append)
    assert len(slept) == 2


def app_on(url: str) -> App:
    config = parse_config(
        "people: [{name: Dong Jingwei}]\nsources: {bing: {kind: bing_images}}\n", "c.yaml", {}
    )
    return build(config, database_url=url, channels=[])


def test_two_writers_storing_the_same_new_images_both_succeed(db_url: str) -> None:
    """A ``check`` and the daemon inserting the same image at once: the second waits for
    the first and finds the row (``ON CONFLICT DO NOTHING``), it does not abort."""
    first, second = app_on(db_url), app_on(db_url)
    first.migrate()
    [ref] = [r for r in first.series() if r.role == "watch"]
    obs = Observation(Status.OK, items=[ImageItem(f"https://img.test/{i}.jpg") for i in range(20)])
    at = datetime(2026, 12, 1, tzinfo=UTC)
    stored = threading.Event()

    def later() -> None:
        with second.sessions() as session, session.begin():
            record_snapshot(
                session, series_id=ref.series_id, observation=obs, started_at=at, finished_at=at
            )
        stored.set()

    with first.sessions() as session, session.begin():
        record_snapshot(
            session, series_id=ref.series_id, observation=obs, started_at=at, finished_at=at
        )
        thread = threading.Thread(target=later)
        thread.start()
        assert not stored.wait(0.3)  # the second writer waits for the first one's commit
    assert stored.wait(10)
    thread.join()
    with first.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Image)) == 20
        snaps = list(session.scalars(select(Snapshot)))
    assert [s.image_count for s in snaps] == [20, 20]
    assert snaps[0].image_set_id == snaps[1].image_set_id
    first.engine.dispose()
    second.engine.dispose()
