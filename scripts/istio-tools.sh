#!/usr/bin/env bash
# istio-tools.sh - Istio's own programs, built from the istio.io/istio Go module into .tools/bin:
#
#   istioctl         `istioctl analyze`: the unit suite runs it on `render`'s files, the walk on
#                    the live namespace after every `pulumi up`
#   pilot-discovery  istiod: the walk runs it on loopback against the throwaway API server, where
#                    it validates every Istio object and injects every sidecar (webhook URLs)
#
# Usage:
#   scripts/istio-tools.sh [build]   build (or reuse) both, print the bin dir
#   scripts/istio-tools.sh env       print `export ISTIOCTL=... PILOT_DISCOVERY=...`
#   scripts/istio-tools.sh test      also compile and run the route-computation test
#                                    (tools/istio/routes) on the cases in $ROUTE_CASES
#
# Which Istio: the module proxy does not serve istio.io/istio at 1.30.3 (nor 1.30.0-1.30.2);
# of the three versions it serves, only v0.0.0-20260423205519-b01690e6db7d (master, April 2026,
# after release-1.30 was cut) has every dependency served too. The binaries call themselves
# ISTIO_BUILD_VERSION below. The charts the program installs are 1.31 (TESTING.md, "Which Istio the tests run").
# All three (istioctl, pilot-discovery and the test) come from one tools module (tools/istio),
# so they share one module download and one set of compiled packages in Go's build cache.
set -euo pipefail

# shellcheck source=scripts/lib-gobuild.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib-gobuild.sh"

ISTIO_MODULE_VERSION="v0.0.0-20260423205519-b01690e6db7d"
ISTIO_BUILD_VERSION="1.31-dev+b01690e6db7d"
ISTIO_TOOLS_MODULE="$REPO_ROOT/tools/istio"

istio_go_env() {
  ensure_go
  # Some checksum-database look-ups of these modules through the proxy answer 404; go.sum
  # (committed) still pins every one of them.
  export GONOSUMDB="github.com/envoyproxy/go-control-plane,github.com/agentgateway/agentgateway,istio.io/client-go,istio.io/api"
}

ldflags() {
  local v="istio.io/istio/pkg/version"
  printf '%s' "-s -w -X $v.buildVersion=$ISTIO_BUILD_VERSION -X $v.buildGitRevision=${ISTIO_MODULE_VERSION##*-} -X $v.buildStatus=Clean -X $v.buildTag=$ISTIO_BUILD_VERSION"
}

build() {
  istio_go_env
  ensure_tools_dir
  local t0=$SECONDS
  go_build_tool istioctl "$ISTIO_TOOLS_MODULE" istio.io/istio/istioctl/cmd/istioctl \
    "$(ldflags)" "$ISTIO_BUILD_VERSION" {} version --remote=false --short
  go_build_tool pilot-discovery "$ISTIO_TOOLS_MODULE" istio.io/istio/pilot/cmd/pilot-discovery \
    "$(ldflags)" "$ISTIO_BUILD_VERSION" {} version --short
  log "Istio tools ready in $((SECONDS - t0))s"
  printf '%s\n' "$TOOLS_BIN"
}

print_env() {
  cat <<EOF
export ISTIOCTL="$TOOLS_BIN/istioctl"
export PILOT_DISCOVERY="$TOOLS_BIN/pilot-discovery"
EOF
}

run_route_test() {
  istio_go_env
  : "${ROUTE_CASES:?ROUTE_CASES must name the directory of route cases (rig/route-cases.ts writes it)}"
  # -trimpath and CGO_ENABLED=0 as for the binaries: the test reuses their compiled packages.
  (cd "$ISTIO_TOOLS_MODULE" && ROUTE_CASES="$ROUTE_CASES" go test -count=1 -v ./routes/ "$@")
}

case "${1:-build}" in
  build) build ;;
  env) print_env ;;
  test) shift; run_route_test "$@" ;;
  *) die "usage: $0 [build|env|test]" ;;
esac
