"""A quick start: ``--version`` and ``--help`` load none of the heavy libraries, and a
database already at the schema's head is recognised without loading Alembic."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from monitor.store import migrate
from monitor.store.db import create_db_engine

HEAVY = ("sqlalchemy.orm", "alembic", "rich", "PIL", "feedparser", "apprise", "bs4", "imagehash")

# Runs the command as the console script does and reports which heavy modules it loaded.
PROBE = """
import json, sys
from monitor.cli.main import main
try:
    main()
except SystemExit:
    pass
heavy = {heavy!r}
print("\\nLOADED " + json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in heavy
                                       or m in heavy)))
"""


def loaded_by(*args: str, cwd: Path) -> list[str]:
    code = PROBE.format(heavy=HEAVY)
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        check=True,
    )
    loaded: list[str] = json.loads(done.stdout.rsplit("LOADED ", 1)[1])
    return loaded


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["check", "--help"]])
def test_version_and_help_load_no_heavy_library(args: list[str], tmp_path: Path) -> None:
    # No config file here: these must not read one, nor open a database.
    assert loaded_by(*args, cwd=tmp_path) == []
    assert list(tmp_path.iterdir()) == []


def test_the_probe_sees_a_heavy_library_when_one_is_loaded(tmp_path: Path) -> None:
    # The check above would pass vacuously if the probe could not see imports.
    (tmp_path / "config.yaml").write_text("people: [{name: A}]\nsources: {b: {kind: bing_images}}")
    assert "alembic" in loaded_by("db", "upgrade", cwd=tmp_path)


def test_the_scripts_head_is_read_as_alembic_reads_it(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'm.db'}")
    assert migrate.scanned_head() == migrate.head_revision(engine)


def test_only_a_database_at_the_head_is_at_head(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'm.db'}")
    assert not migrate.at_head(engine)  # new, no alembic_version table
    migrate.upgrade(engine)
    assert migrate.at_head(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    assert not migrate.at_head(engine)


def test_a_branched_script_history_leaves_the_decision_to_alembic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    versions = tmp_path / "versions"
    versions.mkdir()
    for name, rev, down in (("a", "'1'", "None"), ("b", "'2'", "'1'"), ("c", "'3'", "'1'")):
        (versions / f"{name}.py").write_text(f"revision: str = {rev}\ndown_revision = {down}\n")
    monkeypatch.setattr(migrate, "script_location", lambda: str(tmp_path))
    migrate.scanned_head.cache_clear()
    try:
        assert migrate.scanned_head() is None
        (versions / "c.py").write_text("revision = '3'\ndown_revision = '2'\n")
        migrate.scanned_head.cache_clear()
        assert migrate.scanned_head() == "3"
    finally:
        migrate.scanned_head.cache_clear()
