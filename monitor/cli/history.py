"""``absence-monitor history``: a person's snapshots as a table, CSV or JSON.

CSV and JSON carry every snapshot field (for spreadsheets and notebooks); the table adds a
compact sparkline per series where failed checks are gaps, never zeros.
"""

from __future__ import annotations

import csv
import json
import sys
from typing import Any, TextIO

import click

from monitor.cli.context import Ctx, handle_errors, pass_ctx
from monitor.store.reads import HISTORY_FIELDS

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


def render_history(rows: list[dict[str, Any]], person: str, fmt: str, out: TextIO) -> None:
    """``rows`` (from ``monitor.store.reads.history_rows``) as JSON, CSV or a table."""
    if fmt == "json":
        json.dump(rows, out, ensure_ascii=False, indent=1)
        out.write("\n")
        return
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=HISTORY_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"history of {person}", show_lines=False)
    for col in ("series", "checks", "last status", "last count", "trend (· = failed)"):
        table.add_column(col)
    per: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        per.setdefault((r["source"], r["term"]), []).append(r)
    for (src, term), rs in sorted(per.items()):
        last = rs[-1]
        table.add_row(
            f"{term} @ {src}",
            str(len(rs)),
            str(last["status"]),
            "-" if last["image_count"] is None else str(last["image_count"]),
            sparkline([r["image_count"] for r in rs[-40:]]),
        )
    Console(file=out, width=120).print(table)


@click.command("history")
@click.argument("person")
@click.option("--source", "source_name", metavar="NAME", help="Only this source.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
@click.option("--limit", type=int, default=0, help="Only the last N snapshots per series.")
@pass_ctx
@handle_errors
def history(ctx: Ctx, person: str, source_name: str | None, fmt: str, limit: int) -> None:
    """Show the snapshots of PERSON: every field, as a table, CSV or JSON."""
    from monitor.cli.history import render_history
    from monitor.store.reads import history_rows

    app = ctx.app()
    app.migrate()
    with app.sessions() as session:
        rows = history_rows(session, person, source_name, limit)
    render_history(rows, person, fmt, sys.stdout)
