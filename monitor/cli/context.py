"""What every command shares: the global options (``Ctx``), how a command gets the app, finds
a person by any name (``people_named``) and checks an output file before doing any work
(``output_file``), and how expected failures become one line and an exit code
(``handle_errors``).

Exit codes: 0 success (also when drops were found), 1 failure (a database or file that
cannot be read or written included), 2 bad config or usage (click's own usage errors, an
unknown or ambiguous person or source), 3 ``check --strict`` found a failed check or an undelivered
alert. Errors are one line on stderr, never a traceback (``-vv`` shows it). A reader that
closes the pipe early (``| head -1``) ends the command quietly: click exits 1 and silences
the final flush.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from monitor.core.errors import ConfigError, DatabaseError, MonitorError, UsageError
from monitor.core.masking import mask

if TYPE_CHECKING:
    from monitor.app import App
    from monitor.config import Config

logger = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


class Ctx:
    """Global options, passed to every command."""

    def __init__(self, config: str, database: str | None, verbose: int, log_format: str) -> None:
        self.config_path = config
        self.database = database
        self.verbose = verbose
        self.log_format = log_format

    def load(self) -> Config:
        from monitor.config import load_config

        return load_config(self.config_path)

    def database_url(self, config: Config | None) -> str:
        """``--database`` if given, else the config's ``database.url``."""
        if self.database:
            return self.database
        if config is None:
            raise ConfigError("no database: give --database or a config file", key="--database")
        return str(config.database.url)

    def app(self) -> App:
        """Load the config and build the app; its connections close when the command ends."""
        from monitor.app import build

        config = self.load()
        app = build(config, database_url=self.database_url(config))
        click.get_current_context().call_on_close(app.engine.dispose)
        return app


def people_named(app: App, queries: Sequence[str], *, stored: bool = True) -> list[str]:
    """Each of ``queries`` as the canonical name of the one person it names: by name or
    alias, case-insensitively, Unicode-normalised (``core.names``). The people of the config,
    and with ``stored`` also those in the database (a person since removed from the config
    keeps a history); ``UsageError`` for an unknown or ambiguous name."""
    from monitor.core.names import resolve

    people: dict[str, set[str]] = {p.name: {t.text for t in p.terms} for p in app.config.people}
    if stored and queries:
        from monitor.store.report_reads import stored_people

        with app.sessions() as session:
            for name, terms in stored_people(session).items():
                people.setdefault(name, set()).update(terms)
    return [resolve(q, people) for q in queries]


def complete_person(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """Shell completion of a person: every name and alias in the config that starts with
    what was typed (compared as ``core.names.fold`` does); nothing when the config does not
    load, since completion must never print an error into the shell."""
    from monitor.config import load_config
    from monitor.core.names import fold

    root = ctx.find_root().params
    path = root.get("config_path") or os.environ.get("ABSENCE_MONITOR_CONFIG") or "config.yaml"
    try:
        config = load_config(path)
    except MonitorError:
        return []
    typed = fold(incomplete)
    names = [t.text for p in config.people for t in p.terms]
    return [n for n in dict.fromkeys(names) if fold(n).startswith(typed)]


def output_file(path: str) -> Path:
    """``path`` as a file this command may write, checked before any work is done, so a
    missing directory is one line (exit 1, as ``cp`` has it) and never follows a success
    message."""
    target = Path(path)
    if target.is_dir():
        raise MonitorError(f"cannot write {path}: it is a directory")
    if not target.parent.is_dir():
        raise MonitorError(f"cannot write {path}: directory {target.parent} does not exist")
    return target


def write_file(target: Path, body: bytes) -> None:
    """Write ``body``; a failure (disk full, no permission) is one line, exit 1."""
    try:
        target.write_bytes(body)
    except OSError as exc:
        raise MonitorError(f"cannot write {target}: {exc.strerror or exc}") from None


def handle_errors(func: F) -> F:
    """Turn expected failures into one-line messages and exit codes."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            click.echo(mask(str(exc)), err=True)
            sys.exit(2)
        except UsageError as exc:
            click.echo(f"error: {mask(str(exc))}", err=True)
            sys.exit(2)
        except DatabaseError as exc:
            click.echo(f"database: {mask(str(exc))}", err=True)
            sys.exit(1)
        except MonitorError as exc:
            click.echo(f"error: {mask(str(exc))}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except BrokenPipeError:
            raise  # the reader has gone (`| head`): click ends quietly
        except Exception as exc:
            # Imported only now: loading SQLAlchemy costs a quarter second at every start.
            from sqlalchemy.exc import SQLAlchemyError

            if isinstance(exc, SQLAlchemyError):
                # The driver's own words ("file is not a database", "connection refused"), once.
                original = getattr(exc, "orig", None) or exc
                click.echo(f"database: {mask(str(original)).splitlines()[0]}", err=True)
                sys.exit(1)
            if logging.getLogger().isEnabledFor(logging.DEBUG):
                raise
            click.echo(
                f"internal error: {type(exc).__name__}: {mask(str(exc))} "
                "(run with -vv for the traceback)",
                err=True,
            )
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


pass_ctx = click.make_pass_decorator(Ctx)
