#!/usr/bin/env bash
# images-test.sh - the image rung of `npm test`: app/Dockerfile built for every image the program
# deploys, and each image run read-only as its non-root user against real Redis and MariaDB
# (the checks are rig/images.test.ts, run with node --test). In order:
#   1. whether a Docker engine can run here (scripts/docker-engine.sh check: Linux, root, not an
#      unprivileged container, dockerd or apt-get); when it cannot, the step is skipped and says
#      why, except under CI=true, where that is a failure;
#   2. a Docker engine of its own (docker-engine.sh start: docker.io installed when missing; state
#      in $IMAGES_TEST_DIR/docker, default /tmp/voting-images/docker);
#   3. the node:24-slim stand-in in it (scripts/base-image.sh: the debootstrap root filesystem is
#      cached in .tools/base-image/ and made only when missing; the image is kept in the engine and
#      reused while its inputs are unchanged); then every container and every other image an
#      earlier run left is removed, so each run builds the app's images from the base image alone;
#   4. Redis and MariaDB on loopback (app/scripts/services.sh, on ports and a state directory of
#      their own, so the app's tests and this step never share a server);
#   5. node --test rig/images.test.ts; then each image's size and build time;
#   6. the servers and the engine stopped (also on failure or Ctrl-C); `bash scripts/docker-engine.sh
#      purge` with the same DOCKER_ENGINE_DIR deletes the engine's state.
# Ends with one line, "images-test: N passed, N failed, N skipped" (scripts/test.sh counts it);
# exits non-zero when anything failed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

DIR="${IMAGES_TEST_DIR:-/tmp/voting-images}"
export DOCKER_ENGINE_DIR="$DIR/docker"
export VOTING_SERVICES_DIR="$DIR/services"
export TEST_REDIS_PORT="${IMAGES_REDIS_PORT:-16389}"
export TEST_MYSQL_PORT="${IMAGES_MYSQL_PORT:-13316}"
export SERVICES_NEED_CHROMIUM=0

say() { printf '[images-test] %s\n' "$*"; }
tally() { printf 'images-test: %s passed, %s failed, %s skipped\n' "$1" "$2" "$3"; }
fail_setup() { say "FAILED: $*"; tally 0 1 0; exit 1; }

why="$(bash scripts/docker-engine.sh check)"
if [[ -n "$why" ]]; then
  if [[ "${CI:-}" == true ]]; then
    fail_setup "no Docker engine can run here: $why. Under CI=true the image checks must run"
  fi
  say "skipped: no Docker engine can run here: $why. The images were not built or run"
  tally 0 0 1
  exit 0
fi

cleanup() {
  local t=$SECONDS
  bash app/scripts/services.sh stop >/dev/null 2>&1 || true
  bash scripts/docker-engine.sh stop || true
  say "servers and engine stopped in $((SECONDS - t)) s"
}

# Every container, and every image but node:24-slim and its own layers: what an earlier run left.
only_base_left() {
  local keep ids id pass
  docker ps --all --quiet | xargs -r docker rm --force >/dev/null
  keep="$(docker history --quiet node:24-slim | grep -v missing)"
  [[ -n "$keep" ]] || { say "node:24-slim has no layers in the engine"; return 1; }
  for pass in 1 2 3 4 5; do
    ids="$(docker images --all --quiet | sort -u | grep -vxF "$keep")" || true
    [[ -n "$ids" ]] || return 0
    # An image with children refuses to go; its children go in this pass, it in the next.
    for id in $ids; do docker rmi --force "$id" >/dev/null 2>&1 || true; done
    say "removed what an earlier run left in the engine (pass $pass)"
  done
  ids="$(docker images --all --quiet | sort -u | grep -vxF "$keep")" || true
  [[ -z "$ids" ]] || { say "images left in the engine: $ids"; return 1; }
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t0=$SECONDS
bash scripts/docker-engine.sh start || fail_setup "the Docker engine did not start"
eval "$(bash scripts/docker-engine.sh env)"
bash scripts/base-image.sh build || fail_setup "no node:24-slim stand-in"
only_base_left || fail_setup "could not empty the engine of an earlier run's images"
bash app/scripts/services.sh start || fail_setup "Redis and MariaDB did not start (app/scripts/services.sh)"
set -a
# shellcheck source=/dev/null # KEY=value lines: the servers' settings
source <(bash app/scripts/services.sh env)
set +a
say "engine, base image and servers ready in $((SECONDS - t0)) s"

eval "$(bash scripts/node.sh env)" || fail_setup "no Node 24"
logs="$DIR/logs" # kept after the run (the build logs); the next run starts it again
rm -rf "$logs" && mkdir -p "$logs"
out="$logs/node-test.log"
IMAGES_LOG_DIR="$logs" IMAGES_REPORT="$logs/report.txt" \
  node --require ts-node/register/transpile-only --test --test-reporter=spec --test-concurrency=1 \
  rig/images.test.ts 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}

count() { grep -Eo "^ℹ $1 [0-9]+" "$out" | tail -n 1 | grep -Eo '[0-9]+$' || echo 0; }
pass="$(count pass)" failed="$(count fail)" skipped="$(count skipped)"
if [[ "$rc" -ne 0 && "$failed" -eq 0 ]]; then failed=1; say "node --test exited $rc with no failing test reported"; fi
if [[ -s "$logs/report.txt" ]]; then
  say "each image: size, build time (classic builder; the first build pays for the shared build stage)"
  sed 's/^/    /' "$logs/report.txt"
fi
say "build logs: $logs"
say "done in $((SECONDS - t0)) s"
tally "$pass" "$failed" "$skipped"
[[ "$failed" -eq 0 ]]
