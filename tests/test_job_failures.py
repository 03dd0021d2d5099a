"""A job that fails because the database cannot be reached logs one line naming the
problem, not a traceback, and not at every run while the outage lasts."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from monitor.app import build
from monitor.config import parse_config
from monitor.daemon.jobs import FailureLog
from monitor.daemon.service import Daemon
from monitor.store.db import create_db_engine, unreachable

# Loopback, a port where nothing listens: the connection is refused at once.
NOWHERE = "postgresql+psycopg://absence:absence@127.0.0.1:9/x"


def refused() -> DBAPIError:
    engine = create_engine(NOWHERE)
    try:
        with engine.connect():
            pass
    except DBAPIError as exc:
        return exc
    finally:
        engine.dispose()
    raise AssertionError("a connection to port 9 succeeded")


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_heartbeat_without_its_database_logs_one_line_naming_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = parse_config(
        f'database: {{url: "{NOWHERE}"}}\npeople: [{{name: A}}]\n'
        "sources: {b: {kind: bing_images}}\n",
        "config.yaml",
        {},
    )
    app = build(config, channels=[])
    daemon = Daemon(app)
    with caplog.at_level(logging.INFO, logger="monitor.daemon.jobs"):
        for _ in range(3):  # three heartbeats of one outage
            asyncio.run(daemon.beat())
    app.engine.dispose()
    [record] = [r for r in caplog.records if r.name == "monitor.daemon.jobs"]
    assert record.exc_info is None
    line = record.getMessage()
    assert "\n" not in line
    assert line.startswith("job heartbeat: the database is unreachable (connection failed")
    assert "127.0.0.1" in line and "refused" in line.lower()


def test_repeats_are_quiet_for_a_minute_then_one_line_counts_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ticks = Ticks()
    log = FailureLog(repeat_every=60.0, monotonic=ticks)
    exc = refused()
    with caplog.at_level(logging.INFO, logger="monitor.daemon.jobs"):
        for _ in range(30):  # a job every second for half a minute
            log.failed("close", exc)
            ticks.now += 1
        log.failed("dispatch", exc)  # another job's first failure is told
        ticks.now += 31
        log.failed("close", exc)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3, lines
    assert lines[0].startswith("job close: the database is unreachable")
    assert lines[1].startswith("job dispatch: the database is unreachable")
    assert lines[2].endswith("(29 more failure(s) like it since the last line)")


def test_a_bug_still_logs_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="monitor.daemon.jobs"):
        FailureLog().failed("close", KeyError("series"))
    [record] = caplog.records
    assert record.exc_info is not None and record.getMessage().startswith("job close failed")


def test_only_an_unreachable_database_counts_as_unreachable(tmp_path: Path) -> None:
    assert unreachable(refused()) is not None
    engine = create_db_engine(f"sqlite:///{tmp_path / 'm.db'}")
    with pytest.raises(DBAPIError) as missing, engine.connect() as conn:
        conn.execute(text("select * from no_such_table"))
    engine.dispose()
    assert unreachable(missing.value) is None  # SQLite answered: a bug, not an outage
    gone = create_engine(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}")
    with pytest.raises(DBAPIError) as cannot, gone.connect():
        pass
    gone.dispose()
    assert isinstance(cannot.value.orig, sqlite3.OperationalError)
    assert unreachable(cannot.value) is not None
    assert unreachable(ValueError("x")) is None
