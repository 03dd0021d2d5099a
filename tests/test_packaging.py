"""`pip install .` ships every package, the migrations and the demo's data."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_monitor_package_is_listed_in_pyproject() -> None:
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "monitor").rglob("__init__.py")
    }
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"


def test_migrations_are_installed_as_a_package() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert setuptools["package-dir"]["monitor._alembic"] == "alembic"
    assert {"monitor._alembic", "monitor._alembic.versions"} <= set(setuptools["packages"])
    assert not (ROOT / "alembic" / "__init__.py").exists()  # would shadow the alembic library
