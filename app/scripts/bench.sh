#!/usr/bin/env bash
# npm run bench: measure against throwaway Redis + MariaDB (no browser needed).
set -euo pipefail
cd "$(dirname "$0")/.."
SERVICES_NEED_CHROMIUM=0 bash scripts/with-services.sh node build/scripts/bench.js
