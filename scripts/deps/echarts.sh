#!/usr/bin/env bash
# Refresh the ECharts build inlined into `peekr dashboard` reports (peekr/cli/_static/echarts.min.js).
# Vendored (committed) so building and running peekr needs no network; run this to upgrade it.
# Usage: scripts/deps/echarts.sh [version]    (needs npm)
set -euo pipefail
version="${1:-6.1.0}"
here="$(cd "$(dirname "$0")/../.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "echarts@${version}" >/dev/null && tar xzf "echarts-${version}.tgz")
cp "$tmp/package/dist/echarts.min.js" "$here/peekr/cli/_static/echarts.min.js"
cp "$tmp/package/LICENSE" "$here/peekr/cli/_static/echarts.LICENSE"
cp "$tmp/package/NOTICE" "$here/peekr/cli/_static/echarts.NOTICE"
echo "peekr/cli/_static/echarts.min.js <- echarts@${version}"
