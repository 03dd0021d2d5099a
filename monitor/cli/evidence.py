"""``evidence``: what an alert keeps from retention, and letting it go.

``evidence release ALERT_ID`` ends the alert's hold on its kept responses (pre-drop,
confirming, recovery) and its vanished images' thumbnails: the next retention pass (``db
prune``, or the daemon's daily job) treats them like any other kept body. Until then, or
until ``evidence.alert_retention`` if one is configured, retention never removes them.
"""

from __future__ import annotations

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
