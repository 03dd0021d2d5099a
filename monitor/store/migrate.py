"""Schema migrations, run by the program (``db upgrade`` and at daemon start).

The scripts live in the repository's ``alembic/`` folder, which is installed as the package
``monitor._alembic`` so that a plain ``pip install .`` can migrate too.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from alembic import command
from monitor.core.errors import DatabaseError


def script_location() -> str:
    """Where the migration scripts are: the installed copy, else the source tree's."""
    spec = importlib.util.find_spec("monitor._alembic")
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            if (Path(loc) / "env.py").exists():
                return str(loc)
    repo = Path(__file__).resolve().parents[2] / "alembic"
    if (repo / "env.py").exists():
        return str(repo)
    raise DatabaseError("cannot find the migration scripts (alembic/); reinstall the package")


def alembic_config(engine: Engine) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", script_location())
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision``; refuses a database that is not ours, or one that a
    newer version of the program has migrated beyond what this one knows."""
    _refuse_foreign(engine)
    cfg = alembic_config(engine)
    current = current_revision(engine)
    scripts = ScriptDirectory.from_config(cfg)
    known = {s.revision for s in scripts.walk_revisions()}
    if current is not None and current not in known:
        raise DatabaseError(
            f"the database is at schema revision {current}, which this version of "
            f"absence-monitor does not know (it knows up to {scripts.get_current_head()}): "
            "it was migrated by a newer version; upgrade absence-monitor"
        )
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def downgrade(engine: Engine, revision: str) -> None:
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision(engine: Engine) -> str | None:
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def _refuse_foreign(engine: Engine) -> None:
    try:
        tables = set(inspect(engine).get_table_names())
    except Exception as exc:  # the driver's own error types vary by backend
        raise DatabaseError(f"cannot open the database: {exc}") from None
    if tables and "alembic_version" not in tables:
        raise DatabaseError(
            f"the database has tables ({', '.join(sorted(tables)[:5])}) but no migration "
            "history: it is not an absence-monitor database"
        )
