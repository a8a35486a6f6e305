"""Alembic migrations of evpm's schema: env.py, script.py.mako and versions/ (run them through
evpm.schema_migrations, which locks, adopts unversioned databases and reports errors)."""
