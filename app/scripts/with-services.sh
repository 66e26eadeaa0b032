#!/usr/bin/env bash
# with-services.sh COMMAND...: compile the app and its tests, start throwaway Redis + MariaDB
# (scripts/services.sh), run COMMAND, and stop the servers again (also on failure or Ctrl-C).
set -euo pipefail
cd "$(dirname "$0")/.."

[ -d node_modules ] || npm ci --no-audit --no-fund
./node_modules/.bin/tsc -p tsconfig.json
./node_modules/.bin/tsc -p tsconfig.test.json

cleanup() { bash scripts/services.sh stop || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM

bash scripts/services.sh start
"$@"
