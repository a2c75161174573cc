#!/usr/bin/env bash
# Makes sure Python 3.11 with venv is available; on a bare Debian 12 machine (as root) installs it from apt.
set -euo pipefail
if command -v python3.11 >/dev/null 2>&1 && python3.11 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  exit 0
fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "bootstrap: installing python3.11 and venv from apt" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3.11 python3.11-venv python3.11-dev >/dev/null
  exit 0
fi
echo "bootstrap: Python 3.11 with the venv module is required (apt-get install python3.11-venv)" >&2
exit 1
