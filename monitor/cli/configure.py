"""``absence-monitor config check``: validate the config and summarise it."""

from __future__ import annotations

import click

from monitor.cli.context import Ctx, handle_errors, pass_ctx


@click.group("config")
def config_group() -> None:
    """Inspect the configuration."""


@config_group.command("check")
@pass_ctx
@handle_errors
def config_check(ctx: Ctx) -> None:
    """Validate the config and print a summary: people, terms, sources, series, checks/day."""
    from monitor.config.summary import config_summary

    config = ctx.load()
    click.echo(config_summary(config))
