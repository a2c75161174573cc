#!/usr/bin/env bash
# Makes Prometheus's promtool available, so the test suite checks deploy/'s alert rules with Prometheus's own parser
# (Debian's prometheus package carries it; its service is not started here). Installs it with apt when missing.
# Never fails the build: when it cannot be installed the rules test skips and says why.
set -uo pipefail

if command -v promtool >/dev/null 2>&1; then exit 0; fi
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }
echo "promtool: installing Debian's prometheus package (for promtool only)" >&2
if as_root apt-get update -qq \
  && DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends prometheus >/dev/null; then
  echo "promtool: $(promtool --version 2>&1 | head -1) installed" >&2
else
  echo "promtool: could not be installed; the alert rules test will skip" >&2
fi
exit 0
