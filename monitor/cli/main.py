"""The command line: argument parsing only; the work happens in ``app`` and below.

Exit codes: 0 success (also when drops were found), 1 internal failure, 2 bad config or
usage. Errors are one line on stderr, never a traceback (``-vv`` shows it).
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy.exc import SQLAlchemyError

from monitor import __version__
from monitor.core import logs
from monitor.core.errors import ConfigError, DatabaseError, MonitorError
from monitor.core.secrets import mask

logger = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


class Ctx:
    """Global options, passed to every command."""

    def __init__(self, config: str, database: str | None, verbose: int, log_format: str) -> None:
        self.config_path = config
        self.database = database
        self.verbose = verbose
        self.log_format = log_format

    def load(self) -> Any:
        from monitor.config import load_config

        return load_config(self.config_path)

    def database_url(self, config: Any) -> str:
        return self.database or str(config.database.url)

    def app(self) -> Any:
        """Load the config and build the app; its connections close when the command ends."""
        from monitor.app import build

        config = self.load()
        app = build(config, database_url=self.database_url(config))
        click.get_current_context().call_on_close(app.engine.dispose)
        return app


def handle_errors(func: F) -> F:
    """Turn expected failures into one-line messages and exit codes."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            click.echo(mask(str(exc)), err=True)
            sys.exit(2)
        except DatabaseError as exc:
            click.echo(f"database: {mask(str(exc))}", err=True)
            sys.exit(1)
        except SQLAlchemyError as exc:
            # The driver's own words ("file is not a database", "connection refused"), once.
            original = getattr(exc, "orig", None) or exc
            click.echo(f"database: {mask(str(original)).splitlines()[0]}", err=True)
            sys.exit(1)
        except MonitorError as exc:
            click.echo(f"error: {mask(str(exc))}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except Exception as exc:
            if logging.getLogger().isEnabledFor(logging.DEBUG):
                raise
            click.echo(
                f"internal error: {type(exc).__name__}: {mask(str(exc))} "
                "(run with -vv for the traceback)",
                err=True,
            )
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


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


pass_ctx = click.make_pass_decorator(Ctx)


@cli.group("config")
def config_group() -> None:
    """Inspect the configuration."""


@config_group.command("check")
@pass_ctx
@handle_errors
def config_check(ctx: Ctx) -> None:
    """Validate the config and print a summary: people, terms, sources, series, checks/day."""
    from monitor.cli.summary import config_summary

    config = ctx.load()
    click.echo(config_summary(config))


@cli.group("db")
def db_group() -> None:
    """Database maintenance."""


@db_group.command("upgrade")
@pass_ctx
@handle_errors
def db_upgrade(ctx: Ctx) -> None:
    """Create or migrate the schema to the latest version."""
    from monitor.store import migrate
    from monitor.store.db import create_db_engine

    url = ctx.database or _database_url_only(ctx)
    engine = create_db_engine(url)
    before = migrate.current_revision(engine)
    migrate.upgrade(engine)
    after = migrate.current_revision(engine)
    click.echo(f"database {mask(engine.url.render_as_string())}: {before or 'empty'} -> {after}")
    engine.dispose()


@db_group.command("prune")
@click.option("--dry-run", is_flag=True, help="Only say what would be removed.")
@pass_ctx
@handle_errors
def db_prune(ctx: Ctx, dry_run: bool) -> None:
    """Apply evidence retention (raw responses older than evidence.raw_retention)."""
    app = ctx.app()
    click.echo(app.prune(dry_run=dry_run))


def _database_url_only(ctx: Ctx) -> str:
    """database.url from the config; `db upgrade` needs nothing else to be valid."""
    return str(ctx.database_url(ctx.load()))


@cli.command("raw")
@click.argument("snapshot_id", type=int)
@click.option(
    "-o",
    "--output",
    type=click.Path(),
    default="-",
    show_default=True,
    help="Where to write the body ('-' for standard output).",
)
@pass_ctx
@handle_errors
def raw(ctx: Ctx, snapshot_id: int, output: str) -> None:
    """Write the raw response kept as evidence for SNAPSHOT_ID (see `history`), as the
    engine sent it; its SHA-256 and content type go to stderr."""
    import gzip
    import hashlib

    from monitor.store.models import RawResponse

    app = ctx.app()
    app.migrate()
    with app.sessions() as session:
        row = session.query(RawResponse).filter_by(snapshot_id=snapshot_id).one_or_none()
        if row is None:
            raise MonitorError(
                f"no raw response kept for snapshot {snapshot_id} (kept: the last healthy check "
                "of each series and the confirming checks of drops, until `db prune`)"
            )
        body = gzip.decompress(row.body_gz)
        if hashlib.sha256(body).hexdigest() != row.sha256:
            raise MonitorError(f"snapshot {snapshot_id}: the kept body does not match its hash")
        click.echo(
            f"snapshot {snapshot_id}: {len(body)} bytes, {row.content_type or '?'}, "
            f"sha256 {row.sha256}, kept as {row.reason}",
            err=True,
        )
    if output == "-":
        sys.stdout.buffer.write(body)
    else:
        Path(output).write_bytes(body)


@cli.command("check")
@click.option("--person", "people", multiple=True, metavar="NAME", help="Only this person.")
@click.option("--source", "source_names", multiple=True, metavar="NAME", help="Only this source.")
@click.option("--no-deliver", is_flag=True, help="Store and detect, but send no alerts now.")
@pass_ctx
@handle_errors
def check(
    ctx: Ctx, people: tuple[str, ...], source_names: tuple[str, ...], no_deliver: bool
) -> None:
    """Check every series (or the filtered ones) once, now; store, detect, deliver alerts."""
    from monitor.cli.output import print_round_table, progress_bar

    app = ctx.app()
    results = app.check_now(
        people=people,
        sources=source_names,
        progress=progress_bar if sys.stderr.isatty() else None,
        deliver=not no_deliver,
    )
    print_round_table(results)


@cli.command("run")
@pass_ctx
@handle_errors
def run(ctx: Ctx) -> None:
    """Run the daemon: scheduled checks, detection and alert delivery until SIGTERM."""
    from monitor.daemon.service import run_daemon

    config = ctx.load()
    sys.exit(run_daemon(config, database_url=ctx.database_url(config), config_path=ctx.config_path))


@cli.command("history")
@click.argument("person")
@click.option("--source", "source_name", metavar="NAME", help="Only this source.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
@click.option("--limit", type=int, default=0, help="Only the last N snapshots per series.")
@pass_ctx
@handle_errors
def history(ctx: Ctx, person: str, source_name: str | None, fmt: str, limit: int) -> None:
    """Show the snapshots of PERSON: every field, as a table, CSV or JSON."""
    from monitor.cli.history import render_history
    from monitor.store.reads import history_rows

    app = ctx.app()
    app.migrate()
    with app.sessions() as session:
        rows = history_rows(session, person, source_name, limit)
    render_history(rows, person, fmt, sys.stdout)


@cli.group("alerts")
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
    print_alerts(app.list_alerts(limit))


@alerts_group.command("test")
@pass_ctx
@handle_errors
def alerts_test(ctx: Ctx) -> None:
    """Send a test event through every channel and report each channel's result."""
    app = ctx.app()
    results = app.send_test_alert()
    failed = 0
    for channel, error in results:
        click.echo(f"{channel}: {'ok' if error is None else 'FAILED: ' + mask(error)}")
        failed += error is not None
    if not results:
        click.echo("no channels configured (alerts.email, alerts.webhooks)")
    sys.exit(1 if failed else 0)


@cli.command("report")
@click.argument("people", nargs=-1)
@click.option("-o", "--output", default="report.html", show_default=True, type=click.Path())
@pass_ctx
@handle_errors
def report(ctx: Ctx, people: tuple[str, ...], output: str) -> None:
    """Write a self-contained HTML report (charts, episodes, vanished images)."""
    from monitor.web.document import write_report

    app = ctx.app()
    app.migrate()
    path = write_report(
        app.sessions,
        app.config,
        list(people),
        Path(output),
        thumbnail_dir=app.thumbnail_dir,
        now=app.clock(),
    )
    click.echo(f"report written to {path}")


@cli.command("demo")
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


@cli.command("backtest")
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
    from monitor.cli.backtest import run_backtest_cli

    sys.exit(run_backtest_cli(ctx, input_path, from_db, overrides, strict, output))


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="absence-monitor")
