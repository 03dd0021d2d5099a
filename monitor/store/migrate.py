"""Schema migrations, run by the program (``db upgrade``, before ``check`` and at daemon
start).

The scripts live in the repository's ``alembic/`` folder, which is installed as the package
``monitor._alembic`` so that a plain ``pip install .`` can migrate too.

Alembic is imported only when there is migrating to do: ``at_head`` answers the common case
(the database is already at the scripts' head) from the scripts' text and one query, since
loading Alembic costs about a third of a second of CPU at every start.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect
from sqlalchemy.exc import SQLAlchemyError

from monitor.core.errors import DatabaseError

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

# A script's ``revision = '0004'`` / ``down_revision = None`` line (annotated or not, either
# quote), as script.py.mako writes them.
_REVISION_LINE = re.compile(
    r"""^(down_revision|revision)\b[^=\n]*=\s*(?:'([^'\n]*)'|"([^"\n]*)"|(None))\s*$""", re.M
)


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
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", script_location())
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision``; refuses a database that is not ours, or one that a
    newer version of the program has migrated beyond what this one knows."""
    from alembic.script import ScriptDirectory

    from alembic import command

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
    from alembic import command

    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision(engine: Engine) -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def at_head(engine: Engine) -> bool:
    """True when the database is at the scripts' one head revision, found without Alembic.
    False whenever that is not certain (no ``alembic_version`` table, another revision,
    several rows, scripts this reader does not understand): ``upgrade`` then decides with
    Alembic itself, so a False costs time, never correctness."""
    head = scanned_head()
    if head is None:
        return False
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    except SQLAlchemyError:  # no such table: a new database
        return False
    return [row[0] for row in rows] == [head]


@functools.cache
def scanned_head() -> str | None:
    """The head revision read from the scripts' ``revision``/``down_revision`` lines; None
    unless they form one chain with one head (a merge's tuple, a branch: Alembic's job)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in sorted((Path(script_location()) / "versions").glob("*.py")):
        found = {
            m.group(1): m.group(2) or m.group(3)
            for m in _REVISION_LINE.finditer(script.read_text(encoding="utf-8"))
        }
        if "revision" not in found or "down_revision" not in found:
            return None
        revisions.add(str(found["revision"]))
        if found["down_revision"] is not None:
            parents.add(found["down_revision"])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 and len(parents) == len(revisions) - 1 else None


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
