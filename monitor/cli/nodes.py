"""``absence-monitor nodes``: the cluster's nodes, one line each.

Name, vantage, role (``leader`` for the node holding a current lease, else ``probe``),
state (``running``; ``stopped`` after a clean shutdown; ``silent`` when it has not beaten
for three heartbeats: dead, paused or cut off, and its name is free again), last heartbeat
(with its age), spool depth (checks waiting on the node to be forwarded) and version.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import TextIO

import click

from monitor.cli.context import Ctx, handle_errors, pass_ctx
from monitor.core.clock import iso_utc


@dataclass(frozen=True)
class NodeLine:
    """One node as the command shows it."""

    name: str
    vantage: str
    role: str
    state: str
    last_seen: str
    age_s: int
    spool_depth: int
    version: str
    host: str


def node_lines(
    rows: list[tuple[str, str, str, datetime, bool, int, str]],
    leader: str | None,
    now: datetime,
    live_within: timedelta,
) -> list[NodeLine]:
    """``rows`` (name, vantage, host, last_seen, stopped, spool_depth, version) as lines;
    ``leader`` is the node holding the lease now (None: nobody)."""
    out = []
    for name, vantage, host, seen, stopped, depth, version in rows:
        age = now - seen
        state = "stopped" if stopped else "silent" if age >= live_within else "running"
        role = "leader" if name == leader and state == "running" else "probe"
        out.append(
            NodeLine(
                name,
                vantage,
                role,
                state,
                iso_utc(seen),
                max(0, int(age.total_seconds())),
                depth,
                version,
                host,
            )
        )
    return out


def print_nodes(lines: list[NodeLine], out: TextIO) -> None:
    """Aligned columns, a header first."""
    header = ("NODE", "VANTAGE", "ROLE", "STATE", "LAST HEARTBEAT", "SPOOL", "VERSION")
    table = [header] + [
        (
            n.name,
            n.vantage,
            n.role,
            n.state,
            f"{n.last_seen} ({_age(n.age_s)} ago)",
            str(n.spool_depth),
            n.version,
        )
        for n in lines
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        out.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")


def _age(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


@click.command("nodes")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
)
@pass_ctx
@handle_errors
def nodes(ctx: Ctx, fmt: str) -> None:
    """List the cluster's nodes: vantage, role (leader or probe), state, last heartbeat,
    spool depth and version (see docs/scale-out.md)."""
    from monitor.daemon.jobs import HEARTBEAT
    from monitor.store.cluster import leader_state, list_nodes

    app = ctx.app()
    app.migrate()
    with app.sessions() as session:
        rows = [
            (n.name, n.vantage, n.host, n.last_seen, n.stopped, n.spool_depth, n.version)
            for n in list_nodes(session)
        ]
        # Leases are the database's time (PostgreSQL: cluster mode); no rows, no cluster.
        leader = leader_state(session).leader if rows else None
    lines = node_lines(rows, leader, app.clock(), 3 * HEARTBEAT)
    if fmt == "json":
        json.dump([asdict(n) for n in lines], sys.stdout, ensure_ascii=False, indent=1)
        sys.stdout.write("\n")
    elif not lines:
        click.echo("no nodes: this database has no cluster (cluster.enabled in config.yaml)")
    else:
        print_nodes(lines, sys.stdout)
