#!/usr/bin/env bash
# Makes the pgbouncer program available (bench/multihost.py runs its own instance in transaction mode in front of
# its own PostgreSQL): installs Debian's package when it is missing. Only the program: the package's own service is
# neither configured nor started here. Idempotent and quiet when it is already there.
set -euo pipefail

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ]; then
  exit 0
fi
echo "pgbouncer: installing it from apt" >&2
as_root apt-get update -qq
DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq pgbouncer >/dev/null
