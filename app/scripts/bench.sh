#!/usr/bin/env bash
# npm run bench: start throwaway Redis + MariaDB, measure, stop them again.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
./node_modules/.bin/tsc -p tsconfig.json
./node_modules/.bin/tsc -p tsconfig.test.json
cleanup() { bash scripts/services.sh stop || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM
SERVICES_NEED_CHROMIUM=0 bash scripts/services.sh start
node build/scripts/bench.js
