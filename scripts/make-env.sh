#!/usr/bin/env bash
# Create .env for docker compose from .env.example with fresh random secrets (never overwrites).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -e .env ]; then
    echo ".env already exists; edit it by hand" >&2
    exit 1
fi
secret() { python3 -c 'import secrets; print(secrets.token_hex(32))'; }
# The containers run as your user and group; as root, as 10001 (never as root).
uid=$(id -u) gid=$(id -g)
if [ "$uid" = "0" ]; then
    uid=10001 gid=10001
fi
sed -e "s/^EVPM_JWT_SECRET=.*/EVPM_JWT_SECRET=$(secret)/" \
    -e "s/^POSTGRES_PASSWORD=.*/POSTGRES_PASSWORD=$(secret)/" \
    -e "s/^GRAFANA_ADMIN_PASSWORD=.*/GRAFANA_ADMIN_PASSWORD=$(secret)/" \
    -e "s/^EVPM_UID=.*/EVPM_UID=$uid/" -e "s/^EVPM_GID=.*/EVPM_GID=$gid/" \
    .env.example > .env
chmod 600 .env
# The folders the containers write, owned by the containers' user.
mkdir -p data incoming processing archive failed
if [ "$(id -u)" = "0" ]; then
    chown -R "$uid:$gid" data incoming processing archive failed
fi
echo "wrote .env (secrets generated; keep it out of version control)" >&2
