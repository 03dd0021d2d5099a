"""``absence-monitor history``: a person's snapshots as a table, CSV or JSON.

CSV and JSON carry every snapshot field (for spreadsheets and notebooks); the table
(``output.print_history_table``) adds a compact sparkline per series where failed checks are
gaps, never zeros.
"""

from __future__ import annotations

import csv
import json
import sys
from typing import Any, TextIO

import click

from monitor.cli.context import Ctx, complete_person, handle_errors, pass_ctx, people_named
from monitor.core.errors import UsageError


def render_history(rows: list[dict[str, Any]], person: str, fmt: str, out: TextIO) -> None:
    """``rows`` (from ``monitor.store.reads.history_rows``) as JSON, CSV or a table."""
    from monitor.cli.output import print_history_table
    from monitor.store.reads import HISTORY_FIELDS

    if fmt == "json":
        json.dump(rows, out, ensure_ascii=False, indent=1)
        out.write("\n")
        return
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=HISTORY_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return
    print_history_table(rows, person, out)


@click.command("history")
@click.argument("person", shell_complete=complete_person)
@click.option("--source", "source_name", metavar="NAME", help="Only this source.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
@click.option(
    "--limit", type=click.IntRange(min=0), default=0, help="Only the last N snapshots per series."
)
@pass_ctx
@handle_errors
def history(ctx: Ctx, person: str, source_name: str | None, fmt: str, limit: int) -> None:
    """Show the snapshots of PERSON (any of their names, in any case): every field, as a
    table, CSV or JSON. The table gives each series' snapshot ids, for `raw`."""
    from monitor.cli.history import render_history
    from monitor.store.reads import history_rows

    app = ctx.app()
    app.migrate()
    (name,) = people_named(app, [person])
    with app.sessions() as session:
        rows = history_rows(session, name, source_name, limit)
    if source_name and not rows and source_name not in app.config.sources:
        known = ", ".join(app.config.sources)
        raise UsageError(f"no source named {source_name!r} (known: {known})")
    render_history(rows, name, fmt, sys.stdout)
