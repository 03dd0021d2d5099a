"""The daemon (issue 5). Not available yet in this build."""

from __future__ import annotations

from typing import Any

from monitor.errors import MonitorError


def run_daemon(config: Any, *, database_url: str, config_path: str) -> int:
    """Run until SIGTERM; returns the exit code."""
    raise MonitorError("`absence-monitor run` is not available yet (issue 5: the daemon)")
