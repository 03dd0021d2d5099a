"""`absence-monitor --help` and `--version` load only the command line, not the machinery.

A command imports what it needs when it runs; the group itself must not pull in SQLAlchemy,
the detector, the backtest, rich or the HTTP client (each costs tens to hundreds of ms at
every start, and cron runs `check` often).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ["sqlalchemy", "monitor.detector", "monitor.backtest", "monitor.store", "rich", "httpx"]


@pytest.mark.parametrize("argv", [["--help"], ["--version"]])
def test_the_group_loads_no_heavy_module(argv: list[str]) -> None:
    code = (
        "import sys, json\n"
        "from monitor.cli.main import cli\n"
        f"try:\n    cli.main({argv!r}, standalone_mode=False)\n"
        "except SystemExit:\n    pass\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert json.loads(out.strip().splitlines()[-1]) == []
