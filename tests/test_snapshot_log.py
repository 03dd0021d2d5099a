"""The snapshot log: every round's write chains its snapshots; ``db verify`` recomputes the
chain and names the first broken link for an edited count, a deleted or an inserted
snapshot, a swapped raw body, an edited image set or a truncated tail; the migration
chains an existing database; two writers at once on PostgreSQL keep one chain."""

from __future__ import annotations

import gzip
import hashlib
import shutil
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, text

from monitor.app import App, build
from monitor.cli.main import cli
from monitor.config import parse_config
from monitor.core import loghash
from monitor.core.observation import ImageItem, Observation, Status
from monitor.rounds.commit import Checked, RoundCommit
from monitor.store import migrate
from monitor.store.db import create_db_engine
from monitor.store.log_verify import verify
from monitor.store.models import LogHead, Snapshot
from monitor.store.snapshot_log import entries

START = datetime(2021, 6, 1, tzinfo=UTC)
CONFIG = "people: [{name: Dong Jingwei}]\nsources: {baidu: {kind: baidu_images}}\n"


def make(url: str) -> App:
    app = build(parse_config(CONFIG, "c.yaml", {}), database_url=url, channels=[])
    app.migrate()
    return app


def play(app: App, counts: list[int], start: int = 0) -> None:
    """One round per count, each with a body of its own."""
    [ref] = [r for r in app.series() if r.role == "watch"]
    commit = RoundCommit(app.sessions, app.config, {"baidu": "chinese"}, channels=[])
    for n, count in enumerate(counts, start):
        at = START + n * timedelta(hours=6)
        items = [ImageItem(f"https://img.test/{i}.jpg") for i in range(count)]
        obs = Observation(Status.OK, items=items, raw=f"page {n}: {count}".encode())
        commit("baidu", [Checked(ref, obs, at, at)], at, "scheduled")


def sql(app: App, statement: str) -> None:
    with app.engine.begin() as conn:
        conn.execute(text(statement))


def db_verify(tmp_path: Path) -> tuple[int, str]:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"database: {{url: 'sqlite:///{tmp_path / 'm.db'}'}}\n" + CONFIG)
    result = CliRunner().invoke(cli, ["--config", str(cfg), "db", "verify"])
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database of a baseline, a drop and its recovery, played once for the module."""
    path = tmp_path_factory.mktemp("played") / "m.db"
    app = make(f"sqlite:///{path}")
    play(app, [30] * 10 + [3, 3] + [30] * 2)
    app.engine.dispose()  # the last connection closed: the WAL is checkpointed into the file
    return path


@pytest.fixture
def played(template: Path, tmp_path: Path) -> App:
    """A copy of the played database, for one test to tamper with."""
    shutil.copyfile(template, tmp_path / "m.db")
    return make(f"sqlite:///{tmp_path / 'm.db'}")


def test_every_round_chains_its_snapshots_and_db_verify_passes(played: App, tmp_path: Path) -> None:
    with played.sessions() as session:
        snaps = list(session.scalars(select(Snapshot).order_by(Snapshot.id)))
        head = session.get(LogHead, 1)
        shown = entries(session, [snaps[3].id])
    assert [s.log_seq for s in snaps] == list(range(1, 15))
    assert head is not None and (head.seq, head.head) == (14, snaps[-1].log_hash)
    assert all(s.body_sha256 for s in snaps)
    # An entry is checkable by hand: sha256(previous link + "\n" + canonical entry).
    [one] = shown
    assert one["previous"] == snaps[2].log_hash
    assert loghash.link(one["previous"], one["entry"]) == snaps[3].log_hash
    code, output = db_verify(tmp_path)
    assert code == 0, output
    assert "14 entries" in output and f"head {snaps[-1].log_hash}" in output


def test_an_edited_count_breaks_its_link(played: App, tmp_path: Path) -> None:
    sql(played, "UPDATE snapshots SET image_count = 30 WHERE log_seq = 11")
    code, output = db_verify(tmp_path)
    assert code == 1
    assert "entry 11: snapshot 11, Dong Jingwei / Dong Jingwei on baidu" in output
    assert "fields do not give its link" in output and "more" not in output


def test_a_deleted_snapshot_is_a_missing_entry(played: App, tmp_path: Path) -> None:
    sql(played, "DELETE FROM snapshots WHERE log_seq = 12")
    code, output = db_verify(tmp_path)
    assert code == 1
    assert "entry 12: missing before entry 13" in output and "deleted" in output


def test_a_deleted_last_snapshot_is_caught_by_the_head(played: App, tmp_path: Path) -> None:
    sql(played, "DELETE FROM snapshots WHERE log_seq = 14")
    code, output = db_verify(tmp_path)
    assert code == 1 and "head: says entry 14" in output and "ends at entry 13" in output


def test_an_inserted_snapshot_is_outside_the_log(played: App, tmp_path: Path) -> None:
    sql(
        played,
        "INSERT INTO snapshots (series_id, started_at, finished_at, status, image_count, pages, "
        "elapsed_ms, excluded) SELECT series_id, started_at, finished_at, 'ok', 30, 1, 0, 0 "
        "FROM snapshots WHERE log_seq = 11",
    )
    code, output = db_verify(tmp_path)
    assert code == 1 and "snapshot 15: is not in the log" in output


def test_a_swapped_raw_body_does_not_match_the_log(played: App, tmp_path: Path) -> None:
    forged = b"page 11: 30 (forged)"
    with played.engine.begin() as conn:
        snapshot_id = conn.execute(text("SELECT min(snapshot_id) FROM raw_responses")).scalar()
        conn.execute(
            text("UPDATE raw_responses SET body_gz = :b, sha256 = :h WHERE snapshot_id = :s"),
            {"b": gzip.compress(forged), "h": hashlib.sha256(forged).hexdigest(), "s": snapshot_id},
        )
    code, output = db_verify(tmp_path)
    assert code == 1
    assert f"snapshot {snapshot_id}: its kept raw body hashes to" in output and "swapped" in output


def test_an_image_removed_from_a_set_does_not_match_its_digest(played: App, tmp_path: Path) -> None:
    sql(played, "DELETE FROM image_set_members WHERE set_id = 1 AND position = 0")
    code, output = db_verify(tmp_path)
    assert code == 1 and "image set 1: its members do not give its digest" in output


def test_the_migration_chains_an_existing_database(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'm.db'}")
    migrate.upgrade(engine, "0004")
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO people (name, role, notes) VALUES ('Dong Jingwei', 'watch', '')")
        )
        conn.execute(text("INSERT INTO terms (person_id, text) VALUES (1, 'Dong Jingwei')"))
        conn.execute(text("INSERT INTO sources (name, kind) VALUES ('baidu', 'baidu_images')"))
        conn.execute(
            text(
                "INSERT INTO series (person_id, term_id, source_id, vantage, role) "
                "VALUES (1, 1, 1, 'default', 'watch')"
            )
        )
        for n in range(3):
            conn.execute(
                text(
                    "INSERT INTO snapshots (series_id, started_at, finished_at, status, "
                    "image_count, pages, elapsed_ms, excluded) VALUES "
                    f"(1, '2021-06-0{n + 1} 00:00:00', '2021-06-0{n + 1} 00:00:01', 'ok', {n}, "
                    "1, 0, 0)"
                )
            )
        conn.execute(
            text(
                "INSERT INTO raw_responses (snapshot_id, created_at, sha256, size, body_gz, "
                "reason) VALUES (3, '2021-06-03 00:00:01', :h, 4, :b, 'healthy')"
            ),
            {"h": hashlib.sha256(b"page").hexdigest(), "b": gzip.compress(b"page")},
        )
    migrate.upgrade(engine)
    engine.dispose()
    app = make(f"sqlite:///{tmp_path / 'm.db'}")
    with app.sessions() as session:
        assert verify(session).ok
        assert session.scalar(select(func.max(Snapshot.log_seq))) == 3
    play(app, [30, 30], start=5)  # new rounds go on from the migrated head
    code, output = db_verify(tmp_path)
    assert code == 0 and "5 entries" in output, output


def test_two_writers_at_once_keep_one_chain(db_url: str) -> None:
    """Two processes' rounds committing together (SQLite, and PostgreSQL where its URL is
    set): the head is read under a lock, so neither link is lost or forked."""
    apps = [make(db_url), make(db_url)]
    apps[0].series()  # the watch list synced once, before the two rounds race
    threads = [
        threading.Thread(target=play, args=(app, [30] * 8, 100 * n)) for n, app in enumerate(apps)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    with apps[0].sessions() as session:
        check = verify(session)
        assert session.scalar(select(func.count()).select_from(Snapshot)) == 16
    assert check.ok, check.problems
    assert check.entries == 16
    for app in apps:
        app.engine.dispose()


def test_an_edited_count_is_named_on_either_backend(db_url: str) -> None:
    app = make(db_url)
    play(app, [30] * 4)
    sql(app, "UPDATE snapshots SET image_count = 3 WHERE log_seq = 2")
    with app.sessions() as session:
        check = verify(session)
    app.engine.dispose()
    assert [p.what for p in check.problems] == ["entry 2"]
