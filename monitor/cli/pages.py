"""``report``: the self-contained HTML report; ``demo``: the scripted erasure."""

from __future__ import annotations

import sys

import click

from monitor.cli.context import Ctx, handle_errors, output_file, pass_ctx, people_named
from monitor.core.errors import MonitorError


@click.command("report")
@click.argument("people", nargs=-1)
@click.option("-o", "--output", default="report.html", show_default=True, type=click.Path())
@click.option(
    "--remote-images",
    is_flag=True,
    help="Let images without a kept copy load from the engines when the report is opened "
    "(tells them the reader's address).",
)
@pass_ctx
@handle_errors
def report(ctx: Ctx, people: tuple[str, ...], output: str, remote_images: bool) -> None:
    """Write a self-contained HTML report (charts, episodes, vanished images).

    By default the report loads nothing: kept thumbnails are embedded, other images are a
    placeholder with their URL."""
    from monitor.web.document import write_report

    target = output_file(output)
    if remote_images:
        click.echo(
            "warning: --remote-images: opening this report fetches thumbnails from the "
            "engines' servers, which tells them the reader's address",
            err=True,
        )

    app = ctx.app()
    app.migrate()
    names = people_named(app, people)
    try:
        path = write_report(
            app.sessions,
            app.config,
            names,
            target,
            thumbnail_dir=app.thumbnail_dir,
            now=app.clock(),
            remote_images=remote_images,
        )
    except OSError as exc:
        raise MonitorError(f"cannot write {output}: {exc.strerror or exc}") from None
    click.echo(f"report written to {path}")


@click.command("demo")
@click.option(
    "--speed",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    help="Faster (>1) or slower replay.",
)
@click.option(
    "--keep",
    type=click.Path(),
    default=None,
    help="Keep the demo's database and report in this directory.",
)
@handle_errors
def demo(speed: float, keep: str | None) -> None:
    """Replay a scripted erasure against simulated engines on 127.0.0.1 (about a minute)."""
    from monitor.demo.run import run_demo

    sys.exit(run_demo(speed=speed, keep=keep))
