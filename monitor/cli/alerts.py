"""``alerts list`` and ``alerts test``: what was sent, and whether the channels work."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from monitor.cli.context import Ctx, handle_errors, pass_ctx
from monitor.core.errors import ChannelError
from monitor.core.masking import mask

if TYPE_CHECKING:
    from monitor.app import App
    from monitor.store.models import Alert, Delivery


def list_alerts(app: App, limit: int) -> list[tuple[Alert, Sequence[Delivery]]]:
    """The latest ``limit`` alerts with their deliveries, newest first."""
    from monitor.store import outbox

    app.migrate()
    with app.sessions() as session:
        return outbox.alerts_with_deliveries(session, limit)


def send_test_alert(app: App) -> list[tuple[str, str | None]]:
    """A ``test`` event straight through every channel, bypassing the outbox:
    (channel, error or None) for each."""
    from monitor.alerts.payload import Message, build_payload

    async def go() -> list[tuple[str, str | None]]:
        out: list[tuple[str, str | None]] = []
        now = app.clock()
        for name, channel in app.channels.items():
            payload = build_payload(
                event="test",
                alert_id=0,
                checked_at=now,
                reason="a test alert from `absence-monitor alerts test`",
            )
            message = Message(f"test-{int(now.timestamp())}-{name}", [payload], name)
            try:
                await channel.send(message)
                out.append((name, None))
            except ChannelError as exc:
                kind = "permanent" if exc.permanent else "transient"
                out.append((name, f"{exc.message} ({kind})"))
        return out

    return asyncio.run(go())


@click.group("alerts")
def alerts_group() -> None:
    """Alerts and their delivery."""


@alerts_group.command("list")
@click.option("--limit", type=int, default=50, show_default=True)
@pass_ctx
@handle_errors
def alerts_list(ctx: Ctx, limit: int) -> None:
    """Show recent alerts with their delivery state per channel."""
    from monitor.cli.output import print_alerts

    app = ctx.app()
    print_alerts(list_alerts(app, limit))


@alerts_group.command("test")
@pass_ctx
@handle_errors
def alerts_test(ctx: Ctx) -> None:
    """Send a test event through every channel and report each channel's result."""
    app = ctx.app()
    results = send_test_alert(app)
    failed = 0
    for channel, error in results:
        click.echo(f"{channel}: {'ok' if error is None else 'FAILED: ' + mask(error)}")
        failed += error is not None
    if not results:
        click.echo("no channels configured (alerts.email, alerts.webhooks)")
    sys.exit(1 if failed else 0)
