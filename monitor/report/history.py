"""``absence-monitor history``: a person's snapshots as a table, CSV or JSON.

CSV and JSON carry every snapshot field (for spreadsheets and notebooks); the table adds a
compact sparkline per series where failed checks are gaps, never zeros.
"""

from __future__ import annotations

import csv
import json
from typing import TYPE_CHECKING, Any, TextIO

from sqlalchemy import select

from monitor.core.errors import MonitorError
from monitor.store.models import Person, Series, Snapshot, Source, Term

if TYPE_CHECKING:
    from monitor.app import App

FIELDS = [
    "snapshot_id",
    "person",
    "term",
    "source",
    "vantage",
    "round_id",
    "started_at",
    "finished_at",
    "status",
    "reason",
    "http_status",
    "image_count",
    "reported_total",
    "domain_count",
    "pages",
    "elapsed_ms",
    "image_set_id",
    "excluded",
]
BLOCKS = "▁▂▃▄▅▆▇█"


def history_rows(app: App, person: str, source: str | None, limit: int) -> list[dict[str, Any]]:
    """Every snapshot of ``person`` (optionally one source), oldest first."""
    app.migrate()
    with app.sessions() as session:
        p = session.scalar(select(Person).where(Person.name == person))
        if p is None:
            raise MonitorError(f"no person named {person!r} in the database")
        q = (
            select(Snapshot, Term.text, Source.name, Series.vantage)
            .join(Series, Series.id == Snapshot.series_id)
            .join(Term, Term.id == Series.term_id)
            .join(Source, Source.id == Series.source_id)
            .where(Series.person_id == p.id)
            .order_by(Snapshot.id)
        )
        if source:
            q = q.where(Source.name == source)
        rows = []
        for snap, term, src, vantage in session.execute(q):
            rows.append(
                {
                    "snapshot_id": snap.id,
                    "person": person,
                    "term": term,
                    "source": src,
                    "vantage": vantage,
                    "round_id": snap.round_id,
                    "started_at": snap.started_at.isoformat(),
                    "finished_at": snap.finished_at.isoformat(),
                    "status": snap.status,
                    "reason": snap.reason,
                    "http_status": snap.http_status,
                    "image_count": snap.image_count,
                    "reported_total": snap.reported_total,
                    "domain_count": snap.domain_count,
                    "pages": snap.pages,
                    "elapsed_ms": snap.elapsed_ms,
                    "image_set_id": snap.image_set_id,
                    "excluded": snap.excluded,
                }
            )
    if limit:
        per: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        for r in rows:
            per.setdefault((str(r["term"]), str(r["source"]), str(r["vantage"])), []).append(r)
        rows = sorted(
            (r for rs in per.values() for r in rs[-limit:]),
            key=lambda r: int(str(r["snapshot_id"])),
        )
    return rows


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


def render_history(
    app: App, person: str, source: str | None, fmt: str, limit: int, out: TextIO
) -> None:
    rows = history_rows(app, person, source, limit)
    if fmt == "json":
        json.dump(rows, out, ensure_ascii=False, indent=1)
        out.write("\n")
        return
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
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
