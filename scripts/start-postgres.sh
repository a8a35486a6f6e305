#!/usr/bin/env bash
# Start the local PostgreSQL 15 cluster and create the test role and database (idempotent).
# Used by .ci/run so the storage and API tests run against PostgreSQL as well as SQLite.
set -euo pipefail
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "installing PostgreSQL (Debian package postgresql)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
version=$(pg_lsclusters -h | awk 'NR==1 {print $1}')
cluster=$(pg_lsclusters -h | awk 'NR==1 {print $2}')
if [ -z "$version" ]; then
  pg_createcluster 15 main >/dev/null
  version=15 cluster=main
fi
pg_ctlcluster "$version" "$cluster" start 2>/dev/null || true
for _ in $(seq 1 30); do
  pg_isready -q -h localhost && break
  sleep 1
done
psql_as_postgres() { su postgres -c "psql -v ON_ERROR_STOP=1 -qAt -c \"$1\""; }
if [ "$(psql_as_postgres "SELECT 1 FROM pg_roles WHERE rolname='evpm'")" != "1" ]; then
  psql_as_postgres "CREATE ROLE evpm LOGIN PASSWORD 'evpm'"
fi
for db in evpm_test evpm_migrate_test; do
  if [ "$(psql_as_postgres "SELECT 1 FROM pg_database WHERE datname='$db'")" != "1" ]; then
    psql_as_postgres "CREATE DATABASE $db OWNER evpm"
  fi
done
echo "PostgreSQL ready: postgresql://evpm:evpm@localhost:5432/evpm_test" >&2
