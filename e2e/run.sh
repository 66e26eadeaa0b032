#!/usr/bin/env bash
# The end-to-end walk (npm run e2e; part of npm test): the real Pulumi engine runs the real
# program, stage by stage and back, against a real Kubernetes API server, in both traffic APIs
# (traffic.api=istio, then gateway-api) and switching between them on the live stack
# (e2e/walk.e2e.ts, its concerns in e2e/walk/), scripts/remove-stack.sh (e2e/removeStack.e2e.ts);
# then ups interrupted and recovered as the README says (e2e/interrupted.e2e.ts), and the secrets
# kept out of the state and the engine's output (e2e/secrets.e2e.ts).
#
#   E2E_TARGET=apiserver (default)  start a throwaway control plane on loopback
#                                   (scripts/kube-apiserver.sh: kwokctl runs etcd, kube-apiserver,
#                                   controller-manager, scheduler and kwok, and creates the
#                                   simulated nodes; e2e/clusterSetup.ts waits until they take pods); the
#                                   program installs Istio from its charts (../shared, served on
#                                   loopback) and a real istiod (scripts/istio-tools.sh) runs on
#                                   loopback, validating and injecting through the webhook URLs
#   E2E_TARGET=cluster              use $KUBECONFIG as it is (kind, AKS) and also check
#                                   the live app through the ingress
# The Pulumi CLI on PATH is used; without one, scripts/bootstrap-pulumi.sh builds it from
# Go modules (cached in .tools/ and Go's build cache).
set -euo pipefail
cd "$(dirname "$0")/.."

target="${E2E_TARGET:-apiserver}"
t_all=$SECONDS

if ! command -v pulumi >/dev/null 2>&1; then
    t=$SECONDS
    bash scripts/bootstrap-pulumi.sh >&2
    eval "$(bash scripts/bootstrap-pulumi.sh env)"
    # No upstream Node.js language host can be built here (see the script): serve the program
    # from the harness process through the Automation API instead.
    export E2E_PROGRAM="${E2E_PROGRAM:-inline}"
    echo "e2e: Pulumi engine built or reused in $((SECONDS - t)) s" >&2
fi
echo "e2e: $(pulumi version) at $(command -v pulumi)" >&2

if [ "$target" = "apiserver" ]; then
    t=$SECONDS
    # istiod (pilot-discovery) and istioctl: the walk runs Istio's own control plane and analyzers.
    bash scripts/istio-tools.sh build >&2
    eval "$(bash scripts/istio-tools.sh env)"
    echo "e2e: Istio tools built or reused in $((SECONDS - t)) s" >&2
    t=$SECONDS
    bash scripts/kube-apiserver.sh build >&2
    echo "e2e: control-plane binaries built or reused in $((SECONDS - t)) s" >&2
    t=$SECONDS
    bash scripts/kube-apiserver.sh start >&2
    eval "$(bash scripts/kube-apiserver.sh env)"
    # The walk stops the istiod it starts; should the test process die first, stop it here too.
    trap 'pkill -f "pilot-discovery discovery --kubeconfig $KUBECONFIG" || true; bash scripts/kube-apiserver.sh stop >&2 || true' EXIT
    # The harness's one Kubernetes client (e2e/kube.ts) waits until the simulated nodes take pods.
    node -r ts-node/register/transpile-only e2e/clusterSetup.ts wait-for-nodes "${KWOK_NODES:-2}"
    export E2E_EXPECT_READY="${E2E_EXPECT_READY:-1}"
    echo "e2e: control plane started in $((SECONDS - t)) s" >&2
else
    : "${KUBECONFIG:?E2E_TARGET=cluster needs KUBECONFIG}"
fi
export E2E_TARGET="$target"

t=$SECONDS
rc=0
# One mocha run, the walk first: each file's stack is disposed in its own after hook (they all use
# the namespace voting of the same cluster), and the next file starts once the last one's stack is
# gone. E2E_FILES picks some of them (a space-separated list) while working on one.
read -r -a files <<<"${E2E_FILES:-e2e/walk.e2e.ts e2e/removeStack.e2e.ts e2e/interrupted.e2e.ts e2e/secrets.e2e.ts}"
npx --no-install mocha --no-config --require ts-node/register/transpile-only --extension ts \
    --timeout 0 --bail --forbid-only --reporter spec "${files[@]}" || rc=$?
echo "e2e: stage walk and interrupted ups $((SECONDS - t)) s; e2e total $((SECONDS - t_all)) s" >&2
exit $rc
