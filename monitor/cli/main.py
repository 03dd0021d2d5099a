"""The ``absence-monitor`` command: the click group and its global options; each command
family lives in a module of its own (``configure``, ``database``, ``watch``, ``probe``, ``history``,
``alerts``, ``pages``, ``backtest``, ``nodes``). Argument parsing only: the work happens below.
"""

from __future__ import annotations

import os

import click

from monitor import __version__
from monitor.cli import (
    alerts,
    backtest,
    configure,
    database,
    evidence,
    history,
    nodes,
    pages,
    probe,
    watch,
)
from monitor.cli.context import Ctx
from monitor.core import logs


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="absence-monitor")
@click.option(
    "--config",
    "config_path",
    default=None,
    metavar="PATH",
    help="Config file (default ./config.yaml, or $ABSENCE_MONITOR_CONFIG).",
)
@click.option("--database", metavar="URL", help="Database URL; overrides database.url.")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Log line format.",
)
@click.pass_context
def cli(
    ctx: click.Context, config_path: str | None, database: str | None, verbose: int, log_format: str
) -> None:
    """Notice when a person's images quietly disappear from search engines and news sites."""
    path = config_path or os.environ.get("ABSENCE_MONITOR_CONFIG") or "config.yaml"
    logs.setup(verbose, log_format)
    ctx.obj = Ctx(path, database, verbose, log_format)


cli.add_command(configure.config_group)
cli.add_command(database.db_group)
cli.add_command(database.raw)
cli.add_command(evidence.evidence_group)
cli.add_command(watch.check)
cli.add_command(watch.run)
cli.add_command(watch.health)
cli.add_command(probe.probe)
cli.add_command(history.history)
cli.add_command(alerts.alerts_group)
cli.add_command(pages.report)
cli.add_command(pages.demo)
cli.add_command(backtest.backtest)
cli.add_command(nodes.nodes)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="absence-monitor")
