#!/usr/bin/env bash
# Create .env for docker compose from .env.example with fresh random secrets (never overwrites).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -e .env ]; then
    echo ".env already exists; edit it by hand" >&2
    exit 1
fi
secret() { python3 -c 'import secrets; print(secrets.token_hex(32))'; }
sed -e "s/^EVPM_JWT_SECRET=.*/EVPM_JWT_SECRET=$(secret)/" \
    -e "s/^POSTGRES_PASSWORD=.*/POSTGRES_PASSWORD=$(secret)/" \
    -e "s/^GRAFANA_ADMIN_PASSWORD=.*/GRAFANA_ADMIN_PASSWORD=$(secret)/" .env.example > .env
chmod 600 .env
echo "wrote .env (secrets generated; keep it out of version control)" >&2
