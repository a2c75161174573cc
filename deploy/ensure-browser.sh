#!/usr/bin/env bash
# Makes Debian's chromium available for the back office's real-browser test (Playwright drives it through
# executable_path; `playwright install` is never used). Installs it with apt when missing. Never fails the build:
# when chromium cannot be installed the test skips and says why.
set -uo pipefail

BROWSER=/usr/bin/chromium
if [ -x "$BROWSER" ]; then exit 0; fi
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }
echo "browser: installing chromium from apt" >&2
if as_root apt-get update -qq && DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq chromium >/dev/null; then
  echo "browser: $("$BROWSER" --version 2>/dev/null || echo chromium) installed" >&2
else
  echo "browser: chromium could not be installed; the browser test will skip" >&2
fi
exit 0
