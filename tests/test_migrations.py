"""The schema comes only from Alembic migrations, and they match the models."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from monitor.core.errors import DatabaseError
from monitor.store import migrate
from monitor.store.db import create_db_engine
from monitor.store.models import Base


def test_upgrade_empty_database_to_head_matches_models(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'm.db'}")
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision(engine)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == []


def test_upgrade_downgrade_upgrade_round_trips(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'm.db'}")
    migrate.upgrade(engine)
    migrate.downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    migrate.upgrade(engine)
    assert "snapshots" in inspect(engine).get_table_names()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'm.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 30000


def test_a_database_that_is_not_ours_is_refused(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'other.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE customers (id INTEGER)"))
    with pytest.raises(DatabaseError, match="not an absence-monitor database"):
        migrate.upgrade(engine)


def test_database_in_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match="does not exist"):
        create_db_engine(f"sqlite:///{tmp_path / 'nope' / 'm.db'}")


def test_alert_episodes_are_filled_from_existing_alerts_and_their_payloads(
    tmp_path: Path,
) -> None:
    # A person alert stored before 0004 names its other terms' episodes only in its payload.
    engine = create_db_engine(f"sqlite:///{tmp_path / 'm.db'}")
    migrate.upgrade(engine, "0003")
    payload = '{"terms": [{"episode_id": 1}, {"episode_id": 2}, {"episode_id": 99}]}'
    with engine.begin() as conn:
        for _ in range(2):
            conn.execute(
                text(
                    "INSERT INTO episodes (kind, state, opened_at) "
                    "VALUES ('drop', 'open', '2024-05-01 12:00:00')"
                )
            )
        conn.execute(
            text(
                "INSERT INTO alerts (created_at, event, episode_id, group_key, payload) "
                "VALUES ('2024-05-01 12:00:00', 'drop', 1, 'g', :p)"
            ),
            {"p": payload},
        )
    migrate.upgrade(engine)
    with engine.connect() as conn:
        links = conn.execute(text("SELECT alert_id, episode_id FROM alert_episodes")).all()
    assert sorted(tuple(r) for r in links) == [(1, 1), (1, 2)]  # episode 99 does not exist
