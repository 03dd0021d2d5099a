"""Tables printed by ``check`` and ``alerts list`` (rich; plain text when piped)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from monitor.rounds.commit import CheckRow


class _Bar:
    """A transient progress bar on stderr, advanced once per finished check."""

    def __init__(self, progress: Any, task: Any) -> None:
        self._progress = progress
        self._task = task

    def advance(self, n: int) -> None:
        self._progress.advance(self._task, n)


@contextmanager
def progress_bar(total: int) -> Iterator[_Bar]:
    """A bar over ``total`` checks while the block runs (only on a terminal)."""
    from rich.progress import Progress

    progress = Progress(transient=True, console=Console(stderr=True))
    progress.start()
    try:
        yield _Bar(progress, progress.add_task("checking", total=total))
    finally:
        progress.stop()


def _console() -> Console:
    # Piped output (files, CI logs, tests) is not squeezed into 80 columns.
    probe = Console()
    return probe if probe.is_terminal else Console(width=200)


def _change(row: CheckRow) -> str:
    if row.count is None or not row.baseline:
        return "-"
    pct = (row.count - row.baseline) / row.baseline * 100
    return f"{pct:+.0f}% vs {row.baseline:.0f}"


def print_round_table(rows: Sequence[CheckRow], console: Console | None = None) -> None:
    """Person, term, source, status, count and change against baseline, one row per check."""
    console = console or _console()
    table = Table(title=f"{len(rows)} checks")
    for col in ("person", "term", "source", "status", "count", "change", "state"):
        table.add_column(col)
    for r in sorted(rows, key=lambda r: (r.role != "watch", r.person, r.source, r.term)):
        status = r.status if not r.reason else f"{r.status}: {r.reason[:50]}"
        # Scraped and configured text is printed literally, never as markup.
        table.add_row(
            escape(r.person),
            escape(r.term),
            escape(r.source),
            escape(status),
            "-" if r.count is None else str(r.count),
            _change(r),
            escape(r.state),
        )
    console.print(table)


def print_alerts(
    items: Sequence[tuple[Any, Sequence[Any]]], console: Console | None = None
) -> None:
    """Alerts, newest first, with each channel's delivery state and last error."""
    console = console or _console()
    if not items:
        console.print("no alerts yet")
        return
    table = Table(title="alerts")
    for col in ("id", "created", "event", "person", "term", "source", "snapshot", "deliveries"):
        table.add_column(col)
    for alert, deliveries in items:
        p = alert.payload
        states = (
            "; ".join(
                f"{d.channel}: {'delivery_failed' if d.state == 'failed' else d.state}"
                f" ({d.attempts} attempt{'s' if d.attempts != 1 else ''})"
                + (f" {d.last_error[:60]}" if d.last_error and d.state != "delivered" else "")
                for d in deliveries
            )
            or "no channels"
        )
        table.add_row(
            str(alert.id),
            f"{alert.created_at:%Y-%m-%d %H:%M}",
            alert.event,
            escape(str(p.get("person") or "-")),
            escape(str(p.get("term") or "-")),
            escape(str(p.get("source") or "-")),
            "-" if alert.snapshot_id is None else str(alert.snapshot_id),  # for `raw`
            escape(states),
        )
    console.print(table)
