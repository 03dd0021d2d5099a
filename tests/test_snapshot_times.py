"""A snapshot's times take 8 bytes each (``UtcMicros``, migration 0009): integer
microseconds on SQLite, ``timestamptz`` on PostgreSQL, read back as the same aware UTC
datetimes to the microsecond. Snapshots stored as text before the migration are converted
in place (the snapshot log still verifies), and the downgrade gives the text back; the
unused ``ix_snapshots_round`` goes with the upgrade and comes back with the downgrade."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import inspect, select, text

from monitor.app import App, build
from monitor.config import parse_config
from monitor.core.observation import ImageItem, Observation, Status
from monitor.rounds.commit import Checked, RoundCommit
from monitor.store import migrate
from monitor.store.log_verify import verify
from monitor.store.models import Snapshot

# A microsecond on each time: the one thing a shorter form (seconds, floats) would lose.
START = datetime(2021, 6, 1, 8, 30, 5, 123456, tzinfo=UTC)
CONFIG = "people: [{name: Dong Jingwei}]\nsources: {baidu: {kind: baidu_images}}\n"


def _app(url: str) -> App:
    app = build(parse_config(CONFIG, "c.yaml", {}), database_url=url, channels=[])
    migrate.upgrade(app.engine)
    return app


def _play(app: App, rounds: int, first: int = 0) -> list[tuple[datetime, datetime]]:
    """``rounds`` rounds of one check each; the (started, finished) times they were given."""
    [ref] = [r for r in app.series() if r.role == "watch"]
    commit = RoundCommit(app.sessions, app.config, {"baidu": "chinese"}, channels=[])
    times = []
    for n in range(first, first + rounds):
        at = START + n * timedelta(hours=6, microseconds=7)
        done = at + timedelta(seconds=1, microseconds=999_999 - n)
        obs = Observation(Status.OK, items=[ImageItem("https://img.test/1.jpg")], raw=b"page")
        commit("baidu", [Checked(ref, obs, at, done)], at, "scheduled")
        times.append((at, done))
    return times


def _raw(app: App) -> list[tuple[Any, Any]]:
    with app.engine.connect() as conn:
        rows = conn.execute(text("SELECT started_at, finished_at FROM snapshots ORDER BY id"))
        return [tuple(r) for r in rows]


def _read(app: App) -> list[tuple[datetime, datetime]]:
    with app.sessions() as session:
        rows = session.execute(
            select(Snapshot.started_at, Snapshot.finished_at).order_by(Snapshot.id)
        )
        return [(a, b) for a, b in rows]


def _indexes(app: App) -> set[str]:
    return {ix["name"] or "" for ix in inspect(app.engine).get_indexes("snapshots")}


def test_times_take_8_bytes_and_read_back_to_the_microsecond(db_url: str) -> None:
    app = _app(db_url)
    times = _play(app, 3)
    assert _read(app) == times
    assert all(t.tzinfo is UTC for pair in _read(app) for t in pair)
    with app.engine.connect() as conn:
        if app.engine.dialect.name == "sqlite":
            kinds = conn.execute(
                text("SELECT typeof(started_at), typeof(finished_at) FROM snapshots")
            ).all()
            assert set(kinds) == {("integer", "integer")}
            assert _raw(app)[0][0] == 1_622_536_205_123_456  # microseconds since 1970
        else:
            column = conn.execute(
                text(
                    "SELECT data_type FROM information_schema.columns "
                    "WHERE table_name = 'snapshots' AND column_name = 'finished_at'"
                )
            ).scalar()
            assert column == "timestamp with time zone"
    app.engine.dispose()


def test_comparisons_and_order_in_sql_follow_time(db_url: str) -> None:
    app = _app(db_url)
    times = _play(app, 4)
    with app.sessions() as session:
        later = session.scalars(
            select(Snapshot.id).where(Snapshot.finished_at > times[1][1]).order_by(Snapshot.id)
        ).all()
        latest = session.scalar(select(Snapshot.finished_at).order_by(Snapshot.finished_at.desc()))
    assert len(later) == 2
    assert latest == times[-1][1]
    app.engine.dispose()


def test_text_times_are_converted_in_place_and_back(db_url: str) -> None:
    app = _app(db_url)
    times = _play(app, 3)
    assert "ix_snapshots_round" not in _indexes(app)
    stored = _raw(app)
    migrate.downgrade(app.engine, "0008")
    assert "ix_snapshots_round" in _indexes(app)
    if app.engine.dialect.name == "sqlite":  # SQLAlchemy's own text, to the microsecond
        assert _raw(app)[0] == ("2021-06-01 08:30:05.123456", "2021-06-01 08:30:07.123455")
    migrate.upgrade(app.engine)
    assert _raw(app) == stored
    assert _read(app) == times
    assert "ix_snapshots_round" not in _indexes(app)
    with app.sessions() as session:
        check = verify(session)
    assert check.ok and check.entries == 3, check.problems
    _play(app, 1, first=3)  # new rounds chain on from the converted head
    with app.sessions() as session:
        check = verify(session)
    assert check.ok and check.entries == 4, check.problems
    app.engine.dispose()


def test_a_time_written_by_hand_as_text_reads_back(tmp_path: Any) -> None:
    app = _app(f"sqlite:///{tmp_path / 'm.db'}")
    _play(app, 1)
    with app.engine.begin() as conn:
        conn.execute(text("UPDATE snapshots SET finished_at = '2021-06-02 00:00:00.5'"))
    assert _read(app)[0][1] == datetime(2021, 6, 2, 0, 0, 0, 500000, tzinfo=UTC)
    app.engine.dispose()
