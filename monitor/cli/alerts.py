"""``alerts list``, ``alerts test``, ``alerts resend`` and ``alerts feed``: what was sent,
whether the channels work (in both shapes a receiver gets: one alert, and a batch), sending
again, and the Atom feed."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from monitor.cli.context import Ctx, handle_errors, output_file, pass_ctx, write_file
from monitor.core.errors import ChannelError, UsageError
from monitor.core.masking import mask

if TYPE_CHECKING:
    from monitor.app import App
    from monitor.store.models import Alert, Delivery
    from monitor.store.outbox_admin import Resent


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

    import asyncio

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
    print_alerts(list_alerts(app, limit), configured=set(app.channels))


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


def resend_alerts(
    app: App, alert_ids: Sequence[int], *, failed: bool, channel: str | None
) -> Resent:
    """Re-arm or renew deliveries (``store.outbox_admin.resend``); ``UsageError`` names an
    alert id that does not exist."""
    from monitor.store.outbox_admin import missing_alerts, resend

    app.migrate()
    with app.sessions() as session, session.begin():
        missing = missing_alerts(session, alert_ids)
        if missing:
            raise UsageError(f"no alert {', '.join(map(str, missing))} (see alerts list)")
        return resend(session, app.clock(), alert_ids=alert_ids, failed=failed, channel=channel)


@alerts_group.command("resend")
@click.argument("alert_ids", metavar="[ID]...", nargs=-1, type=click.IntRange(min=1))
@click.option("--failed", is_flag=True, help="Every failed delivery (after fixing the cause).")
@click.option("--channel", help="Only deliveries on this channel (as alerts list names it).")
@pass_ctx
@handle_errors
def alerts_resend(ctx: Ctx, alert_ids: tuple[int, ...], failed: bool, channel: str | None) -> None:
    """Send alerts again, now: a failed delivery under its delivery id, a delivered one under
    a new id (docs/webhooks.md, "Resending"). One that fails again is retried on the usual
    schedule by the daemon (or the next check)."""
    if not alert_ids and not failed:
        raise UsageError("give alert IDs (see alerts list), --failed, or both")
    app = ctx.app()
    done = resend_alerts(app, alert_ids, failed=failed, channel=channel)
    for alert_id, name, delivery in done.rearmed:
        click.echo(f"alert {alert_id} via {name}: re-armed, same delivery id {delivery}")
    for alert_id, name, delivery in done.renewed:
        click.echo(f"alert {alert_id} via {name}: sent again as new delivery {delivery}")
    for alert_id, name, state in done.untouched:
        click.echo(f"alert {alert_id} via {name}: {state}, already on its way")
    for name in sorted({n for _, n, _ in done.rearmed + done.renewed} - set(app.channels)):
        click.echo(f"warning: channel {name} is not configured; its deliveries wait for it")
    if not (done.rearmed or done.renewed or done.untouched):
        click.echo("nothing to resend" + (f" on {channel}" if channel else ""))
        return
    # Claims keep a running daemon from sending the same message at the same time.
    import asyncio

    sent = asyncio.run(app.dispatcher.drain())
    click.echo(f"sent: {sent.delivered} delivered, {sent.retrying} to retry, {sent.failed} failed")
    sys.exit(1 if sent.failed or sent.retrying else 0)


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
