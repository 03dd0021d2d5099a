"""``db upgrade``, ``db prune``, ``db verify`` and ``raw``: the database and the evidence it
keeps."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from monitor.cli.context import Ctx, handle_errors, output_file, pass_ctx, write_file
from monitor.core.errors import MonitorError
from monitor.core.masking import mask


@click.group("db")
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


@db_group.command("verify")
@click.option(
    "--tsa-ca",
    metavar="PEM",
    help="The time-stamping authority's root certificate (default: evidence.timestamp_ca).",
)
@pass_ctx
@handle_errors
def db_verify(ctx: Ctx, tsa_ca: str | None) -> None:
    """Recompute the snapshot log and check every kept body, image set and time-stamp token
    against it; exit 1 naming the first entry, snapshot, set or token that does not match
    (needs only the database: --database URL, or database.url of the config)."""
    from monitor.evidence.timestamps import check_tokens, load_ca
    from monitor.store import migrate
    from monitor.store.db import create_db_engine, session_factory
    from monitor.store.log_verify import verify

    config = ctx.load() if not ctx.database or Path(ctx.config_path).is_file() else None
    ca = tsa_ca or (config.evidence.timestamp_ca if config is not None else None)
    roots = load_ca(ca) if ca else []
    engine = create_db_engine(ctx.database_url(config))
    click.get_current_context().call_on_close(engine.dispose)
    if migrate.current_revision(engine) != migrate.head_revision(engine):
        migrate.upgrade(engine)  # an older database is chained by its migration first
    with session_factory(engine)() as session:
        check = verify(session)
        tokens = check_tokens(session, roots)
    problems = [*map(str, check.problems), *tokens.problems]
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise MonitorError(f"db verify: {problems[0]}{more}")
    signed = "signatures checked" if tokens.signatures else "signatures not checked: no --tsa-ca"
    click.echo(
        f"snapshot log: {check.entries} entries, head {check.head}; {check.bodies} kept "
        f"bodies and every image set match it; {tokens.tokens} time-stamp token(s) match "
        f"({signed})"
        if tokens.tokens
        else f"snapshot log: {check.entries} entries, head {check.head}; {check.bodies} kept "
        "bodies and every image set match it"
    )


def _database_url_only(ctx: Ctx) -> str:
    """database.url from the config; `db upgrade` needs nothing else to be valid."""
    return str(ctx.database_url(ctx.load()))


@click.command("raw")
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

    from monitor.store.evidence import kept_raw

    target = None if output == "-" else output_file(output)
    app = ctx.app()
    app.migrate()
    with app.sessions() as session:
        row = kept_raw(session, snapshot_id)
        if row is None:
            raise MonitorError(
                f"no raw response kept for snapshot {snapshot_id} (kept: the last healthy check "
                "of each series, the checks while a drop is pending or open, and an alert's "
                "pre-drop, confirming and recovery checks until `evidence release`)"
            )
        body = gzip.decompress(row.body_gz)
        if hashlib.sha256(body).hexdigest() != row.sha256:
            raise MonitorError(f"snapshot {snapshot_id}: the kept body does not match its hash")
        click.echo(
            f"snapshot {snapshot_id}: {len(body)} bytes, {row.content_type or '?'}, "
            f"sha256 {row.sha256}, kept as {row.reason}",
            err=True,
        )
        if row.final_url or row.http_status is not None:
            click.echo(f"  HTTP {row.http_status or '?'} from {row.final_url or '?'}", err=True)
    if target is None:
        sys.stdout.buffer.write(body)
    else:
        write_file(target, body)
