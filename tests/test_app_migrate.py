"""``App.migrate(apart=True)``: the daemon's schema upgrade, done by a child process so that
Alembic, Mako and Pygments never load into the long-running one."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.app import App, build
from monitor.config import parse_config
from monitor.core.errors import DatabaseError
from monitor.store import migrate

CONFIG = "people: [{name: Dong Jingwei}]\nsources: {baidu: {kind: baidu_images}}\n"


def _app(db: Path) -> App:
    config = parse_config(CONFIG, "test.yaml", {})
    return build(config, database_url=f"sqlite:///{db}", channels=[])


def test_an_upgrade_apart_brings_a_new_database_to_head(tmp_path: Path) -> None:
    app = _app(tmp_path / "m.db")
    app.migrate(apart=True)
    assert migrate.at_head(app.engine)
    app.migrate(apart=True)  # at head: nothing to do, no child
    assert migrate.current_revision(app.engine) == migrate.head_revision(app.engine)


def test_an_upgrade_apart_that_fails_is_one_line_naming_the_problem(tmp_path: Path) -> None:
    db = tmp_path / "foreign.db"
    with sqlite3.connect(db) as raw:
        raw.execute("CREATE TABLE invoices (id INTEGER)")
    app = _app(db)
    with pytest.raises(DatabaseError) as failed:
        app.migrate(apart=True)
    assert "not an absence-monitor database" in str(failed.value)
    assert "\n" not in str(failed.value)


def test_the_upgrading_process_loads_no_alembic(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "import monitor.cli  # as the program starts: httpx's command line shadowed\n"
        "from monitor.app import build\n"
        "from monitor.config import parse_config\n"
        f"app = build(parse_config({CONFIG!r}, 't.yaml', {{}}), "
        f"database_url='sqlite:///{tmp_path / 'm.db'}', channels=[])\n"
        "app.migrate(apart=True)\n"
        "print(sorted(m for m in ('alembic', 'mako', 'pygments') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
