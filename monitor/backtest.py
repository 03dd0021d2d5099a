"""The backtest (issue 7). Not available yet in this build."""

from __future__ import annotations

from typing import Any

from monitor.errors import MonitorError


def run_backtest_cli(
    ctx: Any,
    input_path: str | None,
    from_db: bool,
    overrides: tuple[str, ...],
    strict: bool,
    output: str,
) -> int:
    """Run the backtest; returns the exit code."""
    raise MonitorError("`absence-monitor backtest` is not available yet (issue 7: backtest)")
