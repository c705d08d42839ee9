#!/usr/bin/env bash
# Install Debian's chromium (used by tests/cli/test_dashboard_browser.py) when it is missing.
# Idempotent: does nothing when /usr/bin/chromium exists. Needs root (CI and dev machines run as root).
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  echo "chromium is missing; run as root (or: sudo apt-get install chromium) to install it" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
/usr/bin/chromium --version
