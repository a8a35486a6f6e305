"""Alembic environment: evpm's tables, and the connection evpm.schema_migrations passes in.

Run migrations through `python -m evpm.schema_migrations` (or `evpm.schema_migrations.upgrade`),
not a bare `alembic upgrade`: that module holds the lock that keeps processes starting together
from migrating at once, adopts databases made before migrations existed, and runs the whole
upgrade in one transaction.
"""

from alembic import context

from evpm.schema import metadata

connection = context.config.attributes.get("connection")
if context.is_offline_mode() or connection is None:
    raise RuntimeError("evpm migrations run on a connection given by evpm.schema_migrations: "
                       "use `python -m evpm.schema_migrations upgrade|current|revision`")

context.configure(
    connection=connection,
    target_metadata=metadata,
    # Batch operations on every database, not only SQLite: the same migration file must run
    # on SQLite (which can alter little in place, so batch mode copies the table) and on
    # PostgreSQL (where batch mode emits plain ALTER statements).
    render_as_batch=True,
    compare_type=True,
)
# The caller's connection is already in a transaction (begun under its lock): migrations join
# it, so an upgrade commits whole or not at all.
with context.begin_transaction():
    context.run_migrations()
