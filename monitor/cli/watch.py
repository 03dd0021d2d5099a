"""``check`` (every series once, now), ``run`` (the daemon) and ``health`` (is the daemon
alive: for container health checks)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import click

from monitor.cli.context import Ctx, complete_person, handle_errors, pass_ctx, people_named
from monitor.core.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from monitor.app import App
    from monitor.cli.check_report import Key, Prior
    from monitor.config import Config
    from monitor.rounds.commit import CheckRow
    from monitor.rounds.runner import Progress
    from monitor.store.catalog import SeriesRef

# Given the number of checks, a context that shows their progress (the CLI's bar).
ProgressFactory = Callable[[int], AbstractContextManager["Progress"]]


@dataclass
class CheckOutcome:
    """What ``check`` did: a row per check, and the deliveries still owed afterwards; for
    the report, the series as their previous check left them and the alerts stored while
    the round ran (both empty unless asked for)."""

    rows: list[CheckRow]
    delivered: bool
    # Deliveries still pending after the outbox was drained, plus those that failed for
    # good while it was (older failures, shown by `alerts list`, are not counted).
    undelivered: int = 0
    priors: dict[Key, Prior] = field(default_factory=dict)
    alerts: list[tuple[Any, Any]] = field(default_factory=list)

    @property
    def failed_checks(self) -> list[CheckRow]:
        """Checks that observed no count (blocked, errors): not ok, not no_results."""
        from monitor.cli.check_report import failed

        return [r for r in self.rows if failed(r)]


def check_now(
    app: App,
    *,
    people: Sequence[str] = (),
    sources: Sequence[str] = (),
    progress: ProgressFactory | None = None,
    deliver: bool = True,
    report: bool = False,
) -> CheckOutcome:
    """Every (filtered) series once, now: fetch, store, detect, and deliver unless told not
    to. ``people`` may name a person by any name or alias (``people_named``); an unknown
    person or source is a ``UsageError`` before anything runs. With ``report``, the outcome
    also holds what the report compares with (``monitor.cli.check_report``)."""
    import asyncio  # here, not at every command's start

    from monitor.cli import check_report

    unknown = [s for s in sources if s not in app.config.sources]
    if unknown:
        known = ", ".join(app.config.sources)
        raise UsageError(f"no source named {unknown[0]!r} (known: {known})")
    names = people_named(app, people, stored=False)
    app.migrate()
    refs = app.series(names, sources)
    if report:
        priors = check_report.read_priors(app, refs)
        newest = check_report.newest_alert_id(app)
    rows, failed = asyncio.run(_check(app, refs, progress, deliver))
    outcome = CheckOutcome(rows, delivered=deliver)
    if report:
        outcome.priors = priors
        outcome.alerts = check_report.alerts_after(app, newest)
    if deliver:
        from monitor.store.outbox import outbox_depth

        with app.sessions() as session:
            outcome.undelivered = outbox_depth(session)[0] + failed
    return outcome


async def _check(
    app: App, refs: list[SeriesRef], progress: ProgressFactory | None, deliver: bool
) -> tuple[list[CheckRow], int]:
    """The rows, and how many deliveries failed for good while the outbox was drained."""
    async with app.fetcher() as fetcher:
        rounds = app.rounds(fetcher)
        if progress is None:
            rows = await rounds.run_all(refs)
        else:
            with progress(len(refs)) as bar:
                rows = await rounds.run_all(refs, progress=bar)
    if not deliver:
        return rows, 0
    return rows, (await app.dispatcher.drain()).failed


@click.command("check")
@click.option(
    "--person",
    "people",
    multiple=True,
    metavar="NAME",
    help="Only this person (any name or alias).",
    shell_complete=complete_person,
)
@click.option("--source", "source_names", multiple=True, metavar="NAME", help="Only this source.")
@click.option("--no-deliver", is_flag=True, help="Store and detect, but send no alerts now.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="json: one object per check, for scripts.",
)
@click.option(
    "--all",
    "show_all",
    is_flag=True,
    help="List every check, not only failures, changes and alerts.",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Exit 3 when a check failed or an alert stayed undelivered (default: 0, for cron).",
)
@pass_ctx
@handle_errors
def check(
    ctx: Ctx,
    people: tuple[str, ...],
    source_names: tuple[str, ...],
    no_deliver: bool,
    fmt: str,
    show_all: bool,
    strict: bool,
) -> None:
    """Check every series (or the filtered ones) once, now; store, detect, deliver alerts.

    Prints the failed checks, the series that changed notably and the alerts raised, then a
    line counting the rest (--all: every check). Exits 0 even when checks failed, so cron
    mails only alerts; with --strict it exits 3 when any check failed or a delivery is still
    pending or failed afterwards."""
    from monitor.cli.check_report import print_check_report
    from monitor.cli.output import progress_bar

    app = ctx.app()
    outcome = check_now(
        app,
        people=people,
        sources=source_names,
        progress=progress_bar if sys.stderr.isatty() and fmt == "table" else None,
        deliver=not no_deliver,
        report=fmt == "table",
    )
    if fmt == "json":
        json.dump([asdict(r) for r in outcome.rows], sys.stdout, ensure_ascii=False, indent=1)
        sys.stdout.write("\n")
    else:
        print_check_report(
            outcome.rows, outcome.priors, outcome.alerts, sys.stdout, show_all=show_all
        )
    if strict:
        failed = len(outcome.failed_checks)
        if failed or outcome.undelivered:
            click.echo(
                f"--strict: {failed} failed check(s), {outcome.undelivered} undelivered "
                "alert deliver(ies)",
                err=True,
            )
            sys.exit(3)


@click.command("run")
@pass_ctx
@handle_errors
def run(ctx: Ctx) -> None:
    """Run the daemon: scheduled checks, detection and alert delivery until SIGTERM."""
    from monitor.config.cluster import database_problem
    from monitor.daemon.service import run_daemon

    config = ctx.load()
    url = ctx.database_url(config)
    if config.cluster.enabled:  # one node of several on one PostgreSQL
        if why := database_problem(url):
            raise ConfigError(why.replace("database.url", "--database"), key="--database")
        from monitor.daemon.cluster import ClusterNode

        sys.exit(
            run_daemon(config, database_url=url, config_path=ctx.config_path, node=ClusterNode)
        )
    sys.exit(run_daemon(config, database_url=url, config_path=ctx.config_path))


@click.command("health")
@pass_ctx
@handle_errors
def health(ctx: Ctx) -> None:
    """Exit 0 when the daemon using this config's database is healthy, 1 when not: its
    heartbeat is fresh and no alert waits long for delivery (what /healthz answers, without
    the status server; the Docker HEALTHCHECK runs it). The facts go to stdout as JSON."""
    from monitor.daemon.server import health as daemon_health

    app = ctx.app()
    ok, facts = daemon_health(app, _spool_depth(app.config, ctx.config_path))
    click.echo(json.dumps(facts))
    sys.exit(0 if ok else 1)


def _spool_depth(config: Config, config_path: str) -> int | None:
    """A cluster node's spool depth, read from its file (None: not a cluster node)."""
    if not config.cluster.enabled:
        return None
    path = config.cluster.spool_path(config_path)
    if not path.exists():
        return 0  # nothing was ever spooled
    from monitor.store.spool import Spool

    spool = Spool(path)
    try:
        return spool.depth()
    finally:
        spool.close()
