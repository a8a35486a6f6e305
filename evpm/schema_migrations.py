"""Alembic owns the schema: bring any database to the newest migration, safely at start-up.

`upgrade(url)` is what every service runs before it serves (through `Storage.init`): an empty
database gets the tables, a database made before migrations existed (release 89c56b1: the
tables, no alembic_version) is adopted — stamped at the baseline, then upgraded, every row kept —
and a current one is left alone without taking any lock. Processes starting together (API
replicas, watchers) take turns: a PostgreSQL advisory lock, or the SQLite file's write lock.
The whole upgrade is one transaction, on SQLite too.

Also a small command line (`python -m evpm.schema_migrations upgrade|current|head|revision`);
the migrations themselves are in evpm/migrations/versions.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.pool import NullPool

from evpm.errors import EvpmError
from evpm.schema import metadata
from evpm.settings import redact_url
from evpm.storage import Storage, engine_url, first_line, set_wal, sqlite_path

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from sqlalchemy.engine import Connection, Engine

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BASELINE = "0001"  # release 89c56b1's tables
VERSION_TABLE = "alembic_version"
# pg_advisory_xact_lock key, the same in every process (any fixed bigint): the ASCII of
# "evpm-mig", unlikely to be another application's key on a shared server.
ADVISORY_LOCK_KEY = int.from_bytes(b"evpm-mig", "big")
# What a database made by release 89c56b1 has: an unversioned database is adopted only if its
# tables have these columns (a table of the same name from another program is not ours).
RELEASE_COLUMNS = {
    "health_records": {"id", "vehicle_id", "timestamp", "predicted_soh", "predicted_sop",
                       "health_score", "status", "prediction_id", "model_version",
                       "idempotency_key", "source_file", "profile", "features", "warnings"},
    "vehicles": {"vehicle_id", "profile", "first_seen", "last_seen"},
}


def config(connection: Connection | None = None) -> Config:
    """Alembic's configuration, built in code (no alembic.ini): our migrations, our connection."""
    from alembic.config import Config

    cfg = Config()
    # ConfigParser interpolates '%': a path containing one must be escaped.
    cfg.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    cfg.attributes["connection"] = connection
    return cfg


@functools.lru_cache(maxsize=1)
def _script() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(config())


def head() -> str:
    """The newest revision id of the migrations shipped with this code."""
    return _script().get_current_head()


def revisions() -> list[str]:
    """Every revision id shipped with this code, oldest first."""
    return [script.revision for script in reversed(list(_script().walk_revisions()))]


def current(url: str) -> str | None:
    """The database's revision id, or None for an empty or unversioned database (read-only)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.util.exc import CommandError
    from sqlalchemy.exc import DBAPIError

    storage = Storage(url, read_only=True)  # checks the URL; creates and writes nothing
    path = sqlite_path(engine_url(url))
    try:
        if path and not Path(path).exists():
            raise EvpmError(f"database {redact_url(url)} does not exist")
        with storage.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except DBAPIError as exc:
        raise EvpmError(f"database {redact_url(url)} is not usable: {first_line(exc)}") from None
    except CommandError as exc:  # e.g. several revisions stamped: branches never merged
        raise EvpmError(f"database {redact_url(url)}: {first_line(exc)}") from None
    finally:
        storage.dispose()


def upgrade(url: str, wait_s: float = 0.0) -> tuple[str | None, str]:
    """Bring a database to head; returns (revision before, revision after).

    Before is what `current` said: None for an empty database and for an adopted unversioned
    one (release 89c56b1's: stamped at BASELINE, then upgraded); after == before when there
    was nothing to do. `wait_s`: how long to keep retrying while a database server does not
    accept connections yet. An unusable database raises EvpmError with one line (password
    masked).
    """
    storage = Storage(url)
    try:
        return upgrade_storage(storage, wait_s)
    finally:
        storage.dispose()


def upgrade_storage(storage: Storage, wait_s: float = 0.0) -> tuple[str | None, str]:
    """`upgrade` on an open Storage (its engine and its SQLite write lock)."""
    from alembic.util.exc import CommandError
    from sqlalchemy.exc import DBAPIError, OperationalError

    deadline = time.monotonic() + wait_s
    while True:
        try:
            return _upgrade(storage)
        except OperationalError as exc:
            # Only a database server can be "not up yet"; an SQLite file will not change.
            left = deadline - time.monotonic()
            if storage.dialect == "sqlite" or left <= 0:
                raise EvpmError(f"database {redact_url(storage.url)} is not usable: "
                                f"{first_line(exc)}") from None
            time.sleep(min(1.0, left))
        except DBAPIError as exc:  # e.g. a file that is not an SQLite database, no permission
            raise EvpmError(f"database {redact_url(storage.url)} is not usable: "
                            f"{first_line(exc)}") from None
        except CommandError as exc:
            raise EvpmError(f"database {redact_url(storage.url)} cannot be migrated: "
                            f"{first_line(exc)}") from None


def _upgrade(storage: Storage) -> tuple[str | None, str]:
    from alembic import command

    target = head()
    # Without a lock first: a current database (every restart, every replica after the
    # first) needs nothing, and its processes need not queue.
    with storage.engine.connect() as conn:
        revision, tables = _state(conn)
    if revision == target and tables == set(metadata.tables):
        return target, target
    with _exclusive(storage) as conn:
        # Again under the lock: another process may have upgraded in the meantime.
        revision, tables = _state(conn)
        before = at = revision
        if revision is not None and revision not in revisions():
            raise EvpmError(f"database {redact_url(storage.url)} is at schema revision "
                            f"{revision!r}, which this version of evpm does not know (made by "
                            "a newer release?): run a release that has it")
        if revision is not None and not tables:
            # A stamp without any of the tables: they were dropped (by hand, by a test's
            # drop_all). The database is empty; build it from the start.
            log.warning("database %s has revision %s but none of its tables: recreating them",
                        redact_url(storage.url), revision)
            conn.execute(text(f"DELETE FROM {VERSION_TABLE}"))
            before = at = None
        elif revision is None and tables:
            _check_adoptable(conn, storage.url)
            command.stamp(config(conn), BASELINE)
            log.info("database %s predates migrations (release 89c56b1's tables): "
                     "stamped at the baseline %s", redact_url(storage.url), BASELINE)
            at = BASELINE
        if at != target:
            command.upgrade(config(conn), "head")
            log.info("database %s upgraded from %s to %s", redact_url(storage.url),
                     at or "empty", target)
        return before, target


def _state(conn: Connection) -> tuple[str | None, set[str]]:
    """The database's revision and which of our tables it has."""
    from alembic.runtime.migration import MigrationContext

    revision = MigrationContext.configure(conn).get_current_revision()
    return revision, set(inspect(conn).get_table_names()) & set(metadata.tables)


def _check_adoptable(conn: Connection, url: str) -> None:
    """Raise unless the unversioned tables are release 89c56b1's (stamping them is then true)."""
    found = inspect(conn)
    names = set(found.get_table_names())
    missing = []
    for table, columns in RELEASE_COLUMNS.items():
        if table not in names:
            missing.append(table)
            continue
        have = {column["name"] for column in found.get_columns(table)}
        missing += [f"{table}.{name}" for name in sorted(columns - have)]
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if missing[3:] else "")
        raise EvpmError(f"database {redact_url(url)} has tables named like evpm's but no schema "
                        f"revision, and they are not evpm's (missing {shown}): not adopted; "
                        "use another database, or move those tables away")


@contextlib.contextmanager
def _exclusive(storage: Storage) -> Iterator[Connection]:
    """One transaction that no other process's upgrade (or SQLite writer) runs beside."""
    path = sqlite_path(engine_url(storage.url))
    if storage.dialect == "postgresql":
        with storage.engine.begin() as conn:
            # Held until this transaction ends (commit, rollback or a dropped connection):
            # the other starting processes wait here, then find the database current.
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
            yield conn
    elif path is None:  # in-memory SQLite: one connection, nobody to exclude
        with storage.engine.begin() as conn:
            yield conn
    else:
        with storage.write_lock():
            engine = _sqlite_migration_engine(storage.url)
            try:
                with engine.begin() as conn:
                    yield conn
            finally:
                engine.dispose()


def _sqlite_migration_engine(url: str) -> Engine:
    """An SQLite engine whose transactions cover DDL (the driver's own would not)."""
    engine = create_engine(engine_url(url), connect_args={"timeout": 30}, poolclass=NullPool)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record) -> None:
        # sqlite3 (Python 3.11) begins a transaction only before INSERT/UPDATE/DELETE, so each
        # CREATE or a batch migration's copy-and-rename would commit on its own: a crash in
        # between would leave half a migration. With its handling off, BEGIN IMMEDIATE below
        # makes the whole upgrade one transaction. Foreign keys stay off (the default): batch
        # migrations drop and recreate tables.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        set_wal(cursor)
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def next_revision_id() -> str:
    """The id for a new migration: the highest numbered one plus one, four digits."""
    numbers = [int(rev) for rev in revisions() if rev.isdigit()]
    return f"{max(numbers, default=0) + 1:04d}"


def revision(message: str, *, autogenerate: bool = False, url: str | None = None) -> Path:
    """Write a new migration into evpm/migrations/versions; returns its path.

    With `autogenerate`, its operations are the difference between the tables of evpm.schema
    and a database at head: `url`'s (which must be at head), else a temporary SQLite database
    upgraded for the purpose. Review it: autogenerate misses renames and server defaults.
    """
    import tempfile

    from alembic import command

    rev_id = next_revision_id()
    try:
        if not autogenerate:
            return Path(command.revision(config(), message=message, rev_id=rev_id).path)
        with tempfile.TemporaryDirectory() as folder:
            storage = Storage(url or f"sqlite:///{folder}/head.db")
            try:
                if url is None:
                    upgrade_storage(storage)
                with storage.engine.begin() as conn:
                    script = command.revision(config(conn), message=message, autogenerate=True,
                                              rev_id=rev_id)
            finally:
                storage.dispose()
        return Path(script.path)
    finally:
        _script.cache_clear()  # the new file is one more revision: read the folder again


def main(argv: list[str] | None = None) -> int:
    """The command line: upgrade, current, head, revision."""
    from evpm.settings import Settings

    parser = argparse.ArgumentParser(prog="python -m evpm.schema_migrations",
                                     description=__doc__.split("\n", 1)[0])
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("upgrade", help="bring the database to head")
    up.add_argument("--url", help="database URL (default: DATABASE_URL)")
    up.add_argument("--wait-s", type=float, default=0.0,
                    help="keep retrying this long while the server does not answer")
    now = commands.add_parser("current", help="the database's revision")
    now.add_argument("--url", help="database URL (default: DATABASE_URL)")
    commands.add_parser("head", help="the newest revision of this code")
    new = commands.add_parser("revision", help="write a new migration file")
    new.add_argument("-m", "--message", required=True)
    new.add_argument("--autogenerate", action="store_true",
                     help="fill it with the difference between evpm.schema and head")
    new.add_argument("--url", help="with --autogenerate: compare with this database (at head) "
                                   "instead of a temporary SQLite one")
    args = parser.parse_args(argv)
    try:
        if args.command == "head":
            print(head())
        elif args.command == "revision":
            print(revision(args.message, autogenerate=args.autogenerate, url=args.url))
        else:
            url = args.url or Settings.from_env().database_url
            if args.command == "current":
                print(current(url) or "none (empty or unversioned database)")
            else:
                before, after = upgrade(url, args.wait_s)
                print(f"{redact_url(url)}: already at {after}" if before == after
                      else f"{redact_url(url)}: {before or 'none'} → {after}")
    except EvpmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
