#!/usr/bin/env bash
# prometheus.sh - the Prometheus server the promotion tests query (npm run promote's gates):
# Debian bookworm's `prometheus` package (2.42), its binary unpacked into .tools/bin with
# `apt-get download` + `dpkg-deb -x` (no service installed or started); a `prometheus` already on
# PATH is used instead.
#
# Usage:
#   scripts/prometheus.sh build   fetch it if needed
#   scripts/prometheus.sh path    print the binary's path (fetching it if needed)
set -euo pipefail

# shellcheck source=scripts/lib-gobuild.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib-gobuild.sh"

prometheus_bin() {
  if [[ -x "$TOOLS_BIN/prometheus" ]]; then echo "$TOOLS_BIN/prometheus"; return 0; fi
  if command -v prometheus >/dev/null 2>&1; then command -v prometheus; return 0; fi
  local start=$SECONDS
  unpack_debian_binary prometheus usr/bin/prometheus prometheus
  log "prometheus: $("$TOOLS_BIN/prometheus" --version 2>&1 | head -1) ready in $((SECONDS - start))s"
  echo "$TOOLS_BIN/prometheus"
}

case "${1:-build}" in
  build) prometheus_bin >/dev/null ;;
  path) prometheus_bin ;;
  *) die "usage: prometheus.sh build|path" ;;
esac
