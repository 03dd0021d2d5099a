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
    """Validate the config and print a summary: people, terms, sources, series, checks/day,
    and what each source will send. Secrets written into the file (not ``${VAR}``) are
    errors (exit 2); choices worth a second look are warnings on stderr."""
    from pathlib import Path

    from monitor.config import review
    from monitor.config.summary import config_summary
    from monitor.config.yamltext import read_yaml
    from monitor.core.errors import ConfigErrors

    config = ctx.load()
    tree = read_yaml(Path(config.path).read_text(encoding="utf-8"), config.path)
    errors = review.literal_secrets(tree, config.path)
    if errors:
        raise errors[0] if len(errors) == 1 else ConfigErrors(errors)
    click.echo(config_summary(config))
    click.echo("requests (for the first watched name):")
    for line in review.requests(config):
        click.echo(line)
    for warning in review.warnings(config):
        click.echo(f"warning: {warning}", err=True)
