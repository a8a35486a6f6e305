"""`evpm db init|upgrade|current|migrate`: database chores."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from evpm.cli.common import user_errors
from evpm.errors import EvpmError

app = typer.Typer(no_args_is_help=True, help="Database chores.")


@app.command("init")
@user_errors
def db_init(
    url: Annotated[str | None, typer.Option(help="Database URL (default: DATABASE_URL)")] = None,
) -> None:
    """Create the tables if they do not exist."""
    from evpm.api.serve import check_database
    from evpm.settings import Settings, redact_url
    from evpm.storage import Storage

    target = url or Settings.from_env().database_url
    check_database(target)
    storage = Storage(target)
    try:
        count = storage.count()
    finally:
        storage.dispose()
    typer.echo(f"database ready: {redact_url(target)} ({count} predictions)")


@app.command("upgrade")
@user_errors
def db_upgrade(
    url: Annotated[str | None, typer.Option(help="Database URL (default: DATABASE_URL)")] = None,
    wait: Annotated[float, typer.Option(
        help="Seconds to wait for a database server that is still starting")] = 0.0,
) -> tuple[str | None, str]:
    """Bring the schema to the newest migration (a database made before migrations is adopted)."""
    from evpm.schema_migrations import upgrade
    from evpm.settings import Settings, redact_url

    target = url or Settings.from_env().database_url
    before, after = upgrade(target, wait_s=wait)
    typer.echo(f"{redact_url(target)}: already at {after}" if before == after else
               f"{redact_url(target)}: {before or 'none'} → {after}")
    return before, after


@app.command("current")
@user_errors
def db_current(
    url: Annotated[str | None, typer.Option(help="Database URL (default: DATABASE_URL)")] = None,
) -> str | None:
    """Print the database's schema revision (and whether it is the newest)."""
    from evpm.schema_migrations import current, head
    from evpm.settings import Settings

    revision = current(url or Settings.from_env().database_url)
    newest = head()
    typer.echo(f"{revision or 'none'} (head: {newest}"
               + (", up to date)" if revision == newest else ", run `evpm db upgrade`)"))
    return revision


@app.command("migrate")
@user_errors
def db_migrate(
    to: Annotated[str, typer.Option("--to", help="Target database URL (PostgreSQL)")],
    source: Annotated[str | None, typer.Option("--from", help="Source (default: DATABASE_URL)")
                      ] = None,
) -> dict:
    """Copy an SQLite database into PostgreSQL and verify the row counts."""
    from tqdm import tqdm

    from evpm.settings import Settings
    from evpm.storage import Storage, first_line, migrate

    source = source or Settings.from_env().database_url
    if source.startswith("sqlite"):
        path = Path(source.split("///", 1)[-1])
        if not path.is_file():
            raise EvpmError(f"source database {path} does not exist")
    total = Storage(source, read_only=True).count()
    with tqdm(total=total, unit="row", desc="migrate", file=sys.stderr) as bar:
        try:
            counts = migrate(source, to, progress=bar.update)
        except EvpmError:
            raise
        except Exception as exc:  # a connection or driver error: one line, not a traceback
            raise EvpmError(f"migration failed: {first_line(exc)}") from None
    for table, (rows_in, rows_out) in counts.items():
        typer.echo(f"{table}: {rows_in} rows → {rows_out} rows (verified)")
    return counts
