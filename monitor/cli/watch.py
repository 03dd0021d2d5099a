"""``check`` (every series once, now) and ``run`` (the daemon)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

import click

from monitor.cli.context import Ctx, handle_errors, pass_ctx
from monitor.core.errors import ConfigError

if TYPE_CHECKING:
    from monitor.app import App
    from monitor.rounds.commit import CheckRow
    from monitor.rounds.runner import Progress
    from monitor.store.catalog import SeriesRef

# Given the number of checks, a context that shows their progress (the CLI's bar).
ProgressFactory = Callable[[int], AbstractContextManager["Progress"]]


def check_now(
    app: App,
    *,
    people: Sequence[str] = (),
    sources: Sequence[str] = (),
    progress: ProgressFactory | None = None,
    deliver: bool = True,
) -> list[CheckRow]:
    """Every (filtered) series once, now: fetch, store, detect, and deliver unless told not
    to. An unknown ``--person`` or ``--source`` is a usage error before anything runs."""
    unknown = [s for s in sources if s not in app.config.sources]
    if unknown:
        raise ConfigError(f"unknown source {unknown[0]!r}", key="--source")
    names = {p.name for p in app.config.people}
    missing = [p for p in people if p not in names]
    if missing:
        raise ConfigError(f"unknown person {missing[0]!r}", key="--person")
    app.migrate()
    refs = app.series(people, sources)
    return asyncio.run(_check(app, refs, progress, deliver))


async def _check(
    app: App, refs: list[SeriesRef], progress: ProgressFactory | None, deliver: bool
) -> list[CheckRow]:
    async with app.fetcher() as fetcher:
        rounds = app.rounds(fetcher)
        if progress is None:
            rows = await rounds.run_all(refs)
        else:
            with progress(len(refs)) as bar:
                rows = await rounds.run_all(refs, progress=bar)
    if deliver:
        await app.dispatcher.drain()
    return rows


@click.command("check")
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
    results = check_now(
        app,
        people=people,
        sources=source_names,
        progress=progress_bar if sys.stderr.isatty() else None,
        deliver=not no_deliver,
    )
    print_round_table(results)


@click.command("run")
@pass_ctx
@handle_errors
def run(ctx: Ctx) -> None:
    """Run the daemon: scheduled checks, detection and alert delivery until SIGTERM."""
    from monitor.daemon.service import run_daemon

    config = ctx.load()
    sys.exit(run_daemon(config, database_url=ctx.database_url(config), config_path=ctx.config_path))
