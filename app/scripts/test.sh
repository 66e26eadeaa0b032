#!/usr/bin/env bash
# npm test: start throwaway Redis + MariaDB, run every test with node's test runner,
# stop the servers again (also on failure or Ctrl-C).
set -euo pipefail
cd "$(dirname "$0")/.."

[ -d node_modules ] || npm ci --no-audit --no-fund
./node_modules/.bin/tsc -p tsconfig.json
./node_modules/.bin/tsc -p tsconfig.test.json

cleanup() { bash scripts/services.sh stop || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM

bash scripts/services.sh start

# One file at a time: the outage tests stop and start the shared servers.
node --test --test-concurrency=1 --test-reporter=spec --test-timeout=300000 build/test/*.test.js
