"""The CLI's rich tables and bars: ``check``'s progress bar, ``alerts list``, the ``history``
table and the backtest summary (plain text when piped). rich loads when one is printed, not
with the command (``check``'s own report is plain text: ``monitor.cli.check_report``)."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:  # types only: the CLI starts without loading rounds, backtest or rich
    from rich.console import Console

    from monitor.backtest.replay import ReplaySummary


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
    from rich.console import Console
    from rich.progress import Progress

    progress = Progress(transient=True, console=Console(stderr=True))
    progress.start()
    try:
        yield _Bar(progress, progress.add_task("checking", total=total))
    finally:
        progress.stop()


def _console() -> Console:
    from rich.console import Console

    # Piped output (files, CI logs, tests) is not squeezed into 80 columns.
    probe = Console()
    return probe if probe.is_terminal else Console(width=200)


def print_alerts(
    items: Sequence[tuple[Any, Sequence[Any]]],
    console: Console | None = None,
    configured: Collection[str] | None = None,
) -> None:
    """Alerts, newest first, with each channel's delivery state and last error; with
    ``configured`` (the channel names in the config), undelivered ones on any other channel
    say that they wait for it."""
    from rich.markup import escape
    from rich.table import Table

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
                + (
                    ", waiting: channel not in the config"
                    if configured is not None
                    and d.channel not in configured
                    and d.state in ("pending", "sending")
                    else ""
                )
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


BLOCKS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[int | None]) -> str:
    """Unicode bars scaled to the maximum; a failed check (None) is a gap marked '·'."""
    valid = [v for v in values if v is not None]
    top = max(valid, default=0)
    out = []
    for v in values:
        if v is None:
            out.append("·")
        elif top == 0:
            out.append(BLOCKS[0])
        else:
            out.append(BLOCKS[min(len(BLOCKS) - 1, round(v / top * (len(BLOCKS) - 1)))])
    return "".join(out)


def print_history_table(rows: Sequence[dict[str, Any]], person: str, out: TextIO) -> None:
    """One line per series of ``person``: checks, their snapshot ids (first, last), last
    status and count, a sparkline."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"history of {escape(person)}", show_lines=False)
    columns = ("series", "checks", "snapshots", "last status", "last count", "trend (· = failed)")
    for col in columns:
        table.add_column(col)
    per: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        per.setdefault((r["source"], r["term"]), []).append(r)
    for (src, term), rs in sorted(per.items()):
        last = rs[-1]
        first = rs[0]["snapshot_id"]
        table.add_row(
            escape(f"{term} @ {src}"),
            str(len(rs)),
            f"{first}…{last['snapshot_id']}" if len(rs) > 1 else str(first),
            str(last["status"]),
            "-" if last["image_count"] is None else str(last["image_count"]),
            sparkline([r["image_count"] for r in rs[-40:]]),
        )
    Console(file=out, width=120).print(table)


def format_summary(summary: ReplaySummary, output: str) -> str:
    """The table printed on stderr after a run.

    Columns are padded in terminal cells (rich's cell widths), not characters, so that a
    CJK name, two cells per character, lines up with a Latin one.
    """
    from rich.cells import cell_len, set_cell_size

    skipped = summary.bad + summary.blank
    out = [
        f"input: {summary.lines:,} lines read, {summary.replayed:,} observations replayed, "
        f"{skipped:,} skipped ({summary.bad:,} bad, {summary.blank:,} blank)",
        f"alerts: {summary.alerts:,}" + ("" if output == "-" else f" -> {output}"),
    ]
    for title, counts in (
        ("event", summary.events),
        ("source", summary.sources),
        ("person", summary.people),
    ):
        if not counts:
            continue
        width = max(cell_len(title), *(cell_len(k) for k in counts))
        out.append("")
        out.append(f"  {set_cell_size(title, width)}  alerts")
        for key, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            out.append(f"  {set_cell_size(key, width)}  {n:>6,}")
    return "\n".join(out)
