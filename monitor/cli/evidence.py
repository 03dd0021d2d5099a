"""``evidence``: an alert's evidence as a verifiable bundle, and letting it go.

``evidence export ALERT_ID -o FILE.zip`` writes the alert's bundle (``monitor.evidence.bundle``:
a WARC of the kept responses and thumbnails, the alert, the history, the vanished images, a
manifest with every hash and the snapshot-log entries); ``evidence verify FILE.zip`` checks
one and exits 1 naming the first file or entry that does not match.

``evidence release ALERT_ID`` ends the alert's hold on its kept responses (pre-drop,
confirming, recovery) and its vanished images' thumbnails: the next retention pass (``db
prune``, or the daemon's daily job) treats them like any other kept body. Until then, or
until ``evidence.alert_retention`` if one is configured, retention never removes them.

``evidence archived`` lists what was sent to the Internet Archive's Save Page Now and what
came of it (``evidence.archive.wayback``; ``monitor.evidence.archive``).
"""

from __future__ import annotations

from pathlib import Path

import click

from monitor.cli.context import Ctx, handle_errors, pass_ctx
from monitor.core.errors import MonitorError


@click.group("evidence")
def evidence_group() -> None:
    """The evidence kept for alerts."""


@evidence_group.command("release")
@click.argument("alert_id", type=int)
@pass_ctx
@handle_errors
def release(ctx: Ctx, alert_id: int) -> None:
    """Let retention remove ALERT_ID's evidence (see `alerts list`)."""
    from monitor.store.retention import release as release_holds

    app = ctx.app()
    app.migrate()
    with app.sessions() as session, session.begin():
        released = release_holds(session, alert_id, app.clock())
    if released is None:
        raise MonitorError(f"no alert #{alert_id} (see `absence-monitor alerts list`)")
    click.echo(
        f"alert #{alert_id}: released {released} hold(s); the next `db prune` (or the daemon's "
        f"retention job) may remove them after evidence.raw_retention"
    )


@evidence_group.command("export")
@click.argument("alert_id", type=int)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The bundle to write (a .zip).",
)
@pass_ctx
@handle_errors
def export(ctx: Ctx, alert_id: int, output: Path) -> None:
    """Write ALERT_ID's evidence bundle (see `alerts list`) to a zip file."""
    from monitor.evidence.bundle import export as write_bundle

    app = ctx.app()
    app.migrate()
    # `default` is what an unset `vantage` is: the bundle then says none was configured.
    configured = app.config.vantage != "default"
    done = write_bundle(
        app.sessions,
        alert_id,
        output,
        thumbnail_dir=app.thumbnail_dir,
        vantage=app.config.vantage if configured else None,
        now=app.clock(),
    )
    click.echo(
        f"{done.path}: {done.size:,} bytes; {done.responses} response(s), "
        f"{done.thumbnails} thumbnail(s), {done.entries} snapshot-log entries"
    )


@evidence_group.command("verify")
@click.argument("bundle", type=click.Path(dir_okay=False, path_type=Path))
@handle_errors
def verify(bundle: Path) -> None:
    """Check every hash and snapshot-log entry of an evidence BUNDLE (needs no database)."""
    from monitor.evidence.bundle_check import verify_bundle

    problems = verify_bundle(bundle)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise MonitorError(f"evidence verify: {problems[0]}{more}")
    click.echo(f"{bundle}: every file and snapshot-log entry matches")


@evidence_group.command("archived")
@click.option("--alert", "alert_id", type=int, help="Only the captures of this drop alert.")
@click.option("--limit", type=click.IntRange(1, 100_000), default=50, show_default=True)
@pass_ctx
@handle_errors
def archived(ctx: Ctx, alert_id: int | None, limit: int) -> None:
    """What was sent to the Internet Archive (evidence.archive.wayback) and what came of it:
    only `archived` rows were confirmed by the archive; the newest first."""
    from monitor.store.archive import captures

    app = ctx.app()
    app.migrate()
    with app.sessions() as session:
        rows = captures(session, alert_id=alert_id, limit=limit)
        lines = [
            f"#{c.id} {c.state:<9} {c.trigger:<10} {_printable(c.url)}"
            + (f" -> {_printable(c.archive_url)}" if c.archive_url else "")
            + (f" ({_printable(c.error)})" if c.error and c.state != "archived" else "")
            for c in rows
        ]
    if not lines:
        on = app.config.evidence.archive.wayback.enabled
        click.echo("nothing sent to the archive yet" + ("" if on else " (it is off)"))
    for line in lines:
        click.echo(line)


def _printable(text: str) -> str:
    """Scraped URLs reach the terminal: no control characters (escape sequences)."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)[:300]
