"""The demo (issue 5). Not available yet in this build."""

from __future__ import annotations

from monitor.errors import MonitorError


def run_demo(*, speed: float = 1.0, keep: str | None = None) -> int:
    """Run the demo; returns the exit code."""
    raise MonitorError("`absence-monitor demo` is not available yet (issue 5: the demo)")
