#!/usr/bin/env bash
# Create .env for docker compose from .env.example with fresh random secrets (never overwrites).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -e .env ]; then
    echo ".env already exists; edit it by hand" >&2
    exit 1
fi
secret() { python3 -c 'import secrets; print(secrets.token_hex(32))'; }
# Typed by people into the dashboard's login: shorter than the secrets, still 128 random bits
# (URL-safe alphabet: nothing sed, the shell or .env would read specially).
password() { python3 -c 'import secrets; print(secrets.token_urlsafe(16))'; }
# The containers run as your user and group; as root, as 10001 (never as root).
uid=$(id -u) gid=$(id -g)
if [ "$uid" = "0" ]; then
    uid=10001 gid=10001
fi
# umask: the secrets are never readable by others, not even between writing and chmod.
(umask 077 && sed -e "s/^EVPM_JWT_SECRET=.*/EVPM_JWT_SECRET=$(secret)/" \
    -e "s/^POSTGRES_PASSWORD=.*/POSTGRES_PASSWORD=$(secret)/" \
    -e "s/^GRAFANA_ADMIN_PASSWORD=.*/GRAFANA_ADMIN_PASSWORD=$(secret)/" \
    -e "s/^EVPM_DASHBOARD_PASSWORD=.*/EVPM_DASHBOARD_PASSWORD=$(password)/" \
    -e "s/^EVPM_UID=.*/EVPM_UID=$uid/" -e "s/^EVPM_GID=.*/EVPM_GID=$gid/" \
    .env.example > .env)
chmod 600 .env
# The folders the containers write, owned by the containers' user.
mkdir -p data incoming processing archive failed
if [ "$(id -u)" = "0" ]; then
    chown -R "$uid:$gid" data incoming processing archive failed
fi
echo "wrote .env (secrets generated; keep it out of version control)" >&2
echo "dashboard password: EVPM_DASHBOARD_PASSWORD in .env (grep '^EVPM_DASHBOARD_PASSWORD=' .env)" >&2
