"""``alerts list``, ``alerts test`` and ``alerts feed``: what was sent, whether the channels
work (in both shapes a receiver gets: one alert, and a batch), and the Atom feed."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from monitor.cli.context import Ctx, handle_errors, output_file, pass_ctx, write_file
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
    """Test events straight through every channel, bypassing the outbox, in both shapes
    real alerts arrive in: one alert, then a batch of two (several people's drops in one
    round). (channel and shape, error or None) for each."""
    from monitor.alerts.payload import Message, build_payload

    async def go() -> list[tuple[str, str | None]]:
        out: list[tuple[str, str | None]] = []
        now = app.clock()
        tests = [
            build_payload(
                event="test",
                alert_id=0,
                checked_at=now,
                reason=f"a test alert from `absence-monitor alerts test` ({n} of 2 in a batch)"
                if n
                else "a test alert from `absence-monitor alerts test`",
            )
            for n in range(3)
        ]
        for name, channel in app.channels.items():
            stamp = int(now.timestamp())
            shapes = (
                ("single", Message(f"test-{stamp}-{name}", tests[:1], name)),
                ("batch", Message(f"test-{stamp}-{name}-batch", tests[1:], name)),
            )
            for shape, message in shapes:
                try:
                    await channel.send(message)
                    out.append((f"{name} ({shape})", None))
                except ChannelError as exc:
                    kind = "permanent" if exc.permanent else "transient"
                    out.append((f"{name} ({shape})", f"{exc.message} ({kind})"))
        return out

    return asyncio.run(go())


@click.group("alerts")
def alerts_group() -> None:
    """Alerts and their delivery."""


@alerts_group.command("list")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
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
    """Send a test alert, then a batch of two, through every channel; report each result."""
    app = ctx.app()
    results = send_test_alert(app)
    failed = 0
    for channel, error in results:
        click.echo(f"{channel}: {'ok' if error is None else 'FAILED: ' + mask(error)}")
        failed += error is not None
    if not results:
        click.echo("no channels configured (alerts.email, alerts.webhooks)")
    sys.exit(1 if failed else 0)


@alerts_group.command("feed")
@click.option(
    "-o", "--output", default="alerts.atom", show_default=True, type=click.Path(dir_okay=False)
)
@click.option("--limit", type=click.IntRange(min=1), default=200, show_default=True)
@pass_ctx
@handle_errors
def alerts_feed(ctx: Ctx, output: str, limit: int) -> None:
    """Write the Atom feed of the latest alerts (for feed readers)."""
    from monitor.web.feed import alerts_feed as feed

    target = output_file(output)
    app = ctx.app()
    app.migrate()
    body = feed(
        app.sessions,
        database_url=str(app.engine.url),
        now=app.clock(),
        limit=limit,
        report=app.config.alerts.report_url,
    )
    write_file(target, body)
    click.echo(f"feed written to {output} ({body.count(b'<entry>')} alerts)")
