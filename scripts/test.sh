#!/usr/bin/env bash
# The project's one test command (`npm test`, which .ci/run calls):
#   1. type-check the program and the app (tsc --noEmit, strict), then Prettier's check and ESLint
#      over both (npm run lint; npm run format rewrites what Prettier would change);
#      then every shell script through shellcheck, every workflow through actionlint (lint-ci.sh);
#   2. Istio's tools (istioctl, pilot-discovery) built or reused, then the program's unit suite
#      under Pulumi's mock runtime (mocha), istioctl analyze on render's output among it;
#   3. Istio's config generator on every stage and mid-transition state (go test, tools/istio);
#   4. the app's tests against real Redis / MariaDB servers and headless Chromium
#      (app/scripts/test.sh installs and starts what it needs);
#   5. the app's images: app/Dockerfile built for every image the program deploys, each run
#      read-only as its non-root user against real Redis / MariaDB, in a Docker engine of its own
#      (scripts/images-test.sh installs and starts what it needs; skipped, saying why, where no
#      engine can run, e.g. not root, except under CI=true);
#   6. the end-to-end walk with the real Pulumi engine against a real API server, when present;
#   7. every log the steps kept, scanned for the tests' secret values (test/support/secretScan.ts).
# It ends with one line, "N passed, N failed[, N skipped]", the totals of every suite it ran.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
# Every suite runs on Node 24 (LTS): the one on PATH when it is 24, else the pinned build.
eval "$(bash scripts/node.sh env)" || { echo "no Node 24 to run the tests on"; echo "0 passed, 1 failed"; exit 1; }
echo "node $(node --version) at $(command -v node)"

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
passed=0 failed=0 skipped=0 broken=()

count() { # count NAME PASS FAIL SKIP EXIT
    passed=$((passed + $2)); failed=$((failed + $3)); skipped=$((skipped + $4))
    if [ "$5" -ne 0 ] && [ "$3" -eq 0 ]; then failed=$((failed + 1)); broken+=("$1 (exit $5, no failing test reported)"); fi
    printf '== %s: %s passed, %s failed, %s skipped (exit %s)\n' "$1" "$2" "$3" "$4" "$5"
}
num() { # num REGEX FILE: the number in the last match, 0 when there is none
    local n; n=$(grep -Eo "$1" "$2" | tail -n 1 | grep -Eo '[0-9]+' | head -n 1)
    echo "${n:-0}"
}

step() { printf '\n== %s\n' "$*"; }
timed() { local t0=$SECONDS; "$@"; local rc=$?; echo "   ($((SECONDS - t0)) s)"; return $rc; }

step "type-check: program"
timed npx --no-install tsc --noEmit -p . ; rc=$?
count "typecheck (program)" $((rc == 0)) $((rc != 0)) 0 0

step "type-check: app"
[ -d app/node_modules ] || npm --prefix app ci --no-audit --no-fund
timed npm --prefix app run --silent typecheck ; rc=$?
count "typecheck (app)" $((rc == 0)) $((rc != 0)) 0 0

step "lint: formatting (Prettier) and ESLint, one style for the program, its tests and the app"
timed npx --no-install prettier --check --log-level warn . ; rc=$?
[ "$rc" -eq 0 ] || echo "   formatting differs: npm run format rewrites it"
count "format (prettier)" $((rc == 0)) $((rc != 0)) 0 0
timed npx --no-install eslint . ; rc=$?
count "lint (eslint)" $((rc == 0)) $((rc != 0)) 0 0

step "lint: shell scripts (shellcheck) and workflows (actionlint, with shellcheck)"
timed bash scripts/lint-ci.sh >"$logs/lint-ci.log" 2>&1; rc=$?
# One line per file checked; show the failures with their findings, the tools and the summary.
grep -v ': ok$' "$logs/lint-ci.log"
count "lint (shellcheck, actionlint)" "$(num '^lint-ci: [0-9]+ passed' "$logs/lint-ci.log")" "$(num '[0-9]+ failed$' "$logs/lint-ci.log")" 0 "$rc"

step "Istio's own tools: istioctl and pilot-discovery from the istio.io/istio module (built once into .tools/)"
timed bash scripts/istio-tools.sh build; rc=$?
if [ "$rc" -eq 0 ]; then eval "$(bash scripts/istio-tools.sh env)"; fi
count "Istio tools build" $((rc == 0)) $((rc != 0)) 0 0

step "unit suite: the program under Pulumi mocks (mocha)"
timed npx --no-install mocha 2>&1 | tee "$logs/unit.log"; rc=${PIPESTATUS[0]}
count "unit (mocha)" "$(num '[0-9]+ passing' "$logs/unit.log")" "$(num '[0-9]+ failing' "$logs/unit.log")" "$(num '[0-9]+ pending' "$logs/unit.log")" "$rc"

step "Istio's config generator: each stage's and each mid-transition state's routes, computed by Istio's own code (go test)"
cases=$(mktemp -d); : >"$logs/routes.log"
timed node -r ts-node/register/transpile-only rig/route-cases.ts "$cases" && \
    ROUTE_CASES="$cases" timed bash scripts/istio-tools.sh test >"$logs/routes.log" 2>&1; rc=$?
# go test -v prints three lines per case; show failures, their messages and the summary only.
grep -vE '^=== (RUN|PAUSE|CONT|NAME)|^ *--- PASS' "$logs/routes.log"
rm -rf "$cases"
# One per case (subtests TestRoutes/<case>); the parent TestRoutes line is not a case.
count "routes (go test)" "$(grep -c -E '^ *--- PASS: TestRoutes/' "$logs/routes.log")" "$(grep -c -E '^ *--- FAIL: TestRoutes/' "$logs/routes.log")" "$(grep -c -E '^ *--- SKIP' "$logs/routes.log")" "$rc"

step "app: components against real Redis, MariaDB and Chromium (node --test)"
timed npm --prefix app test 2>&1 | tee "$logs/app.log"; rc=${PIPESTATUS[0]}
count "app (node --test)" "$(num 'ℹ pass [0-9]+' "$logs/app.log")" "$(num 'ℹ fail [0-9]+' "$logs/app.log")" "$(num 'ℹ skipped [0-9]+' "$logs/app.log")" "$rc"

step "images: app/Dockerfile built for every image the program deploys, each run read-only as its non-root user against real Redis / MariaDB (Docker)"
timed bash scripts/images-test.sh 2>&1 | tee "$logs/images.log"; rc=${PIPESTATUS[0]}
# images-test.sh ends with "images-test: N passed, N failed, N skipped" (one check per test of rig/images.test.ts).
count "images (docker)" "$(num '^images-test: [0-9]+ passed' "$logs/images.log")" "$(num '[0-9]+ failed, [0-9]+ skipped$' "$logs/images.log")" "$(num '[0-9]+ skipped$' "$logs/images.log")" "$rc"

if [ -f e2e/run.sh ]; then
    step "end to end: the real Pulumi engine walks every stage against a real API server"
    timed bash e2e/run.sh 2>&1 | tee "$logs/e2e.log"; rc=${PIPESTATUS[0]}
    count "e2e" "$(num '[0-9]+ passing' "$logs/e2e.log")" "$(num '[0-9]+ failing' "$logs/e2e.log")" "$(num '[0-9]+ pending' "$logs/e2e.log")" "$rc"
fi

step "secrets: none of the tests' secret values (the MySQL passwords they set) in any log above, in any form (plain, base64, JSON-escaped, hex, ...)"
# Every log the steps above kept (lint-ci, unit, routes, app, images, e2e: the walk's engine output
# too, under E2E_VERBOSE), after a control that the scan finds each value planted in each form.
timed node -r ts-node/register/transpile-only test/support/secretScan.ts "$logs"; rc=$?
count "secret scan (logs)" $((rc == 0)) $((rc != 0)) 0 0

for b in "${broken[@]}"; do echo "broken: $b"; done
echo
if [ "$skipped" -gt 0 ]; then echo "$passed passed, $failed failed, $skipped skipped"; else echo "$passed passed, $failed failed"; fi
[ "$failed" -eq 0 ]
