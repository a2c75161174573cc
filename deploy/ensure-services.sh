#!/usr/bin/env bash
# Makes PostgreSQL and Redis reachable for the test suite: uses them when up, starts them when installed but down,
# installs them with apt on Debian when missing. Idempotent and quiet when everything is already running.
set -euo pipefail

PG_HOST=127.0.0.1 PG_PORT=5432 REDIS_PORT=6379
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
  echo "services: installing $* from apt" >&2
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

wait_for() { # wait_for <description> <command...>
  local what=$1; shift
  for _ in $(seq 1 60); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  echo "services: $what did not come up" >&2; return 1
}

pg_up() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT"; }
if ! command -v pg_isready >/dev/null 2>&1; then apt_install postgresql postgresql-client; fi
if ! pg_up; then
  echo "services: starting PostgreSQL" >&2
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  wait_for PostgreSQL pg_up
fi
# A fresh Debian cluster only trusts local peers; the suite logs in over TCP as postgres/postgres.
if ! PGPASSWORD=postgres psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -Atqc 'select 1' >/dev/null 2>&1; then
  echo "services: setting the postgres user's password for TCP logins" >&2
  as_root su postgres -c "psql -Atqc \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null
fi

# The two roles of core/database_roles.py: the owner creates the test database and runs the migrations; the
# application's role owns nothing, is no superuser, and may only append to the journal.
PGPASSWORD=postgres psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -Atq >/dev/null <<'SQL'
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ledgerline_owner') THEN
    CREATE ROLE ledgerline_owner LOGIN CREATEDB NOSUPERUSER NOCREATEROLE PASSWORD 'ledgerline_owner';
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ledgerline_app') THEN
    CREATE ROLE ledgerline_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD 'ledgerline_app';
  END IF;
END $$;
SQL

redis_up() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping | grep -q PONG; }
if ! command -v redis-server >/dev/null 2>&1; then apt_install redis-server; fi
if ! redis_up; then
  echo "services: starting Redis" >&2
  as_root mkdir -p /var/lib/redis /var/log/redis
  as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for Redis redis_up
fi
echo "services: PostgreSQL and Redis are up" >&2
