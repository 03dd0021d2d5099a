"""The import contract: packages are layers of the data flow, and imports point only down.

Every ``import`` in ``monitor/`` counts, wherever it stands: at the top, inside a function, or
under ``if TYPE_CHECKING:`` (a cycle hidden from the interpreter is still a cycle for a
reader). The layers, top to bottom, are ``LAYERS`` below; ``docs/architecture.md`` explains
them. A module may import its own package, any layer below its own, and nothing else; modules
of one layer that share a row are independent of each other. Among modules, there is no cycle
at all, inside a package included.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "monitor"

# Top to bottom. A row holds packages that do not import each other.
LAYERS: list[tuple[str, ...]] = [
    ("monitor.__main__",),
    ("monitor.cli",),
    ("monitor.demo",),
    ("monitor.daemon",),
    ("monitor.app",),  # the composition root: only the rows above may import it
    ("monitor.web", "monitor.backtest"),
    ("monitor.report", "monitor.rounds"),
    ("monitor.evidence",),
    ("monitor.check",),
    ("monitor.channels",),
    ("monitor.store",),
    ("monitor.config",),
    ("monitor.alerts",),
    ("monitor.detector",),
    ("monitor.fetch",),
    ("monitor.sources",),
    ("monitor.core", "monitor.testing"),
    ("monitor",),  # the package itself holds only __version__
]


def _modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        if "_alembic" in path.parts:
            continue
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The module ``name`` refers to (``pkg.mod.attr`` -> ``pkg.mod``)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str) -> Iterator[tuple[int, str]]:
    """(line, imported monitor module) for every import statement in ``module``."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                stem = ".".join([*base, node.module] if node.module else base)
            else:
                stem = node.module or ""
            # "from monitor.store import outbox" imports the module monitor.store.outbox
            targets = [
                f"{stem}.{a.name}" if f"{stem}.{a.name}" in MODULES else stem for a in node.names
            ]
        else:
            continue
        for target in targets:
            if target == "monitor" or target.startswith("monitor."):
                resolved = _resolve(target)
                if resolved is not None and resolved != module:
                    yield node.lineno, resolved


def layer_of(module: str) -> tuple[int, str]:
    """(row index, the layer's package) of ``module``; the most specific package wins."""
    best: tuple[int, str] | None = None
    for index, row in enumerate(LAYERS):
        for package in row:
            if (module == package or module.startswith(package + ".")) and (
                best is None or len(package) > len(best[1])
            ):
                best = (index, package)
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    return best


def test_every_module_is_in_a_layer() -> None:
    for module in MODULES:
        layer_of(module)


def test_imports_point_only_down_the_layers() -> None:
    wrong = []
    for module in sorted(MODULES):
        row, package = layer_of(module)
        for line, target in imports_of(module):
            trow, tpackage = layer_of(target)
            if tpackage == package:
                continue
            if trow <= row:
                rel = MODULES[module].relative_to(ROOT.parent)
                what = "sideways" if trow == row else "upward"
                wrong.append(f"{rel}:{line}: {what} import of {target} ({tpackage})")
    assert not wrong, "\n".join(wrong)


def test_there_is_no_import_cycle() -> None:
    graph = {m: {t for _, t in imports_of(m)} for m in MODULES}
    # A package's __init__ re-exporting its own modules is not a cycle through its modules:
    # they import each other directly, never through the package.
    cycles = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*stack[stack.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    assert not cycles, "\n".join(cycles)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_stays_under_about_300_lines(module: str) -> None:
    lines = MODULES[module].read_text(encoding="utf-8").count("\n")
    assert lines <= 320, f"{module}: {lines} lines; split it by kind"


def test_the_package_has_few_top_level_modules() -> None:
    top = [p.name for p in ROOT.glob("*.py")]
    assert len(top) <= 12, top


def test_no_module_shadows_a_standard_library_name() -> None:
    import sys

    clash = [m for m in MODULES if m.rpartition(".")[2] in sys.stdlib_module_names]
    assert not clash, clash


def test_no_test_module_imports_another_test_module() -> None:
    """Shared helpers live in ``tests/helpers/`` or ``monitor/testing.py``, never in a test."""
    tests = Path(__file__).resolve().parent
    wrong = []
    for path in tests.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            wrong += [
                f"{path.relative_to(tests)}: {n}"
                for n in names
                if n.startswith("tests.test_") or n.startswith("test_")
            ]
    assert not wrong, wrong


# The store holds all SQL. Two documented exceptions: the backtest reads a database it is
# given by URL read-only, and the daemon's lock is a database primitive (advisory lock).
SQL_OUTSIDE_STORE = {"monitor.backtest.from_db", "monitor.daemon.lock"}
SQL_NAMES = {"select", "insert", "update", "delete", "func", "text", "and_", "or_"}


def test_sql_is_written_only_in_the_store() -> None:
    wrong = []
    for module, path in sorted(MODULES.items()):
        if module.startswith("monitor.store") or module in SQL_OUTSIDE_STORE:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
                used = {a.name for a in node.names} & SQL_NAMES
                if used:
                    wrong.append(f"{module}:{node.lineno}: {sorted(used)}")
    assert not wrong, "\n".join(wrong)
