#!/usr/bin/env bash
# npm test: every test with node's test runner, against throwaway Redis + MariaDB.
set -euo pipefail
cd "$(dirname "$0")/.."
# The glob is expanded after with-services.sh has compiled the tests into build/.
# One file at a time: the outage tests stop and start the shared servers.
bash scripts/with-services.sh bash -c \
    'node --test --test-concurrency=1 --test-reporter=spec --test-timeout=300000 build/test/*.test.js'
