"""The HTML report (issue 6). Not available yet in this build."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from monitor.errors import MonitorError


def write_report(app: Any, people: list[str], output: Path) -> Path:
    """Write the report; returns its path."""
    raise MonitorError("`absence-monitor report` is not available yet (issue 6: reports)")
