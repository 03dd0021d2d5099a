"""``absence-monitor backtest [INPUT | --from-db]``: the replay (``monitor.backtest``) as a
command.

Reads JSON Lines (a file, or ``-`` for stdin; gzip or not) or, with ``--from-db``, the
database's snapshots; writes the alerts the daemon would have sent as JSON Lines (stdout, or
``-o FILE``) and a summary table on stderr. ``--set detection.KEY=VALUE`` overrides the
config's settings. Without a config file the defaults are used (JSON Lines input, or
``--from-db`` with ``--database``).

Exit codes: 0 done (also when alerts were found); 2 usage, a bad ``--set``, an unreadable
input, or a bad record under ``--strict``; 1 a database that cannot be read (raised as
``DatabaseError`` for the command's error handler).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING

import click

from monitor.cli.context import Ctx, handle_errors, output_file, pass_ctx

if TYPE_CHECKING:
    from monitor.backtest.records import BadInput
    from monitor.backtest.replay import ReplayedAlert
    from monitor.config import Config

logger = logging.getLogger(__name__)

MAX_REPORTED = 100  # bad records printed one by one; the rest are only counted


def run_backtest_cli(
    ctx: Ctx,
    input_path: str | None,
    from_db: bool,
    overrides: tuple[str, ...],
    strict: bool,
    output: str,
) -> int:
    """Run the backtest as the command line asked; returns the exit code."""
    if from_db == (input_path is not None):
        click.echo("backtest: give an input file (or - for stdin), or --from-db", err=True)
        return 2
    if output != "-":
        output_file(output)
    # Loaded here, not at import: `absence-monitor --help` must not pay for the detector.
    from monitor.backtest.records import JsonlReader
    from monitor.backtest.replay import Replayer, Setup, alert_line, run_backtest
    from monitor.cli.output import format_summary

    config = _load_config(ctx, from_db)
    setup = Setup.from_config(config, overrides)
    if from_db:
        from monitor.backtest.from_db import DatabaseReader

        reader: JsonlReader | DatabaseReader = DatabaseReader(ctx.database_url(config))
    else:
        assert input_path is not None
        reader = JsonlReader(input_path, default_vantage=setup.vantage)

    def on_bad(bad: BadInput) -> None:
        if reader.bad <= MAX_REPORTED or strict:
            click.echo(str(bad), err=True)
        elif reader.bad == MAX_REPORTED + 1:
            click.echo(f"backtest: more than {MAX_REPORTED} bad records; counting only", err=True)

    try:
        with _open_output(output) as out:
            write = out.write

            def emit(alert: ReplayedAlert) -> None:
                write(alert_line(alert))

            summary = run_backtest(reader, Replayer(setup), emit, strict=strict, on_bad=on_bad)
    except BrokenPipeError:
        raise  # the reader of stdout has gone: click ends quietly
    except OSError as exc:
        click.echo(f"backtest: {exc}", err=True)
        return 2
    summary.lines, summary.blank = reader.lines, reader.blank
    if summary.stopped is not None:
        click.echo("backtest: stopped at the first bad record (--strict)", err=True)
        return 2
    click.echo(format_summary(summary, output), err=True)
    logger.info("backtest: %d records, %d alerts", summary.replayed, summary.alerts)
    return 0


def _load_config(ctx: Ctx, from_db: bool) -> Config | None:
    """The config; ``None`` (defaults) when no config file exists and none is needed: the
    input is a file, or ``--database`` names the database."""
    if not Path(ctx.config_path).exists() and (not from_db or ctx.database):
        click.echo(
            f"backtest: no config at {ctx.config_path}: default detection settings", err=True
        )
        return None
    config: Config = ctx.load()
    return config


@contextmanager
def _open_output(path: str) -> Iterator[IO[str]]:
    """``-`` is stdout (left open); a path is opened for writing and closed."""
    if path == "-":
        yield sys.stdout
        return
    with Path(path).open("w", encoding="utf-8") as f:
        yield f


@click.command("backtest")
@click.argument("input_path", required=False, type=click.Path())
@click.option("--from-db", is_flag=True, help="Replay the snapshots in the database.")
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a setting, e.g. detection.drop_ratio=0.25.",
)
@click.option("--strict", is_flag=True, help="Stop at the first bad input line.")
@click.option("-o", "--output", type=click.Path(), default="-", help="Alerts as JSON Lines.")
@pass_ctx
@handle_errors
def backtest(
    ctx: Ctx,
    input_path: str | None,
    from_db: bool,
    overrides: tuple[str, ...],
    strict: bool,
    output: str,
) -> None:
    """Run recorded observations (JSON Lines) through the detector; print would-be alerts."""
    sys.exit(run_backtest_cli(ctx, input_path, from_db, overrides, strict, output))
