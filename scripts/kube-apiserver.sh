#!/usr/bin/env bash
# kube-apiserver.sh - a real, throwaway Kubernetes control plane on loopback for
# e2e tests, run by kwokctl (sigs.k8s.io/kwok's cluster tool, "binary" runtime):
# etcd + kube-apiserver + kube-controller-manager + kube-scheduler, and
# kwok-controller standing in for the kubelets of simulated nodes. Pods are
# scheduled and reported Running/Ready, but no container ever runs and no image
# is pulled. This script builds or fetches the binaries (kwokctl would download
# them), writes kwokctl's configuration, and calls kwokctl; kwokctl makes the
# PKI and the kubeconfig, starts, checks and stops the processes and creates the
# nodes.
#
# Usage:
#   scripts/kube-apiserver.sh start   build/fetch binaries if needed; `kwokctl create
#                                     cluster` (waits until kube-apiserver answers
#                                     /healthz), `kwokctl scale node`; print the
#                                     kubeconfig's path. Nothing is done when the
#                                     cluster's processes are all running already;
#                                     a half-started one is deleted first.
#   scripts/kube-apiserver.sh stop    `kwokctl delete cluster` (SIGKILLs all five) and
#                                     remove the state dir
#   scripts/kube-apiserver.sh env     print `export KUBECONFIG=...`
#   scripts/kube-apiserver.sh status  exit 0 and print the kubeconfig path if all five
#                                     processes are running (else say which are not,
#                                     exit 1)
#   scripts/kube-apiserver.sh build   only build/fetch the binaries
#   scripts/kube-apiserver.sh kill-apiserver
#                                     SIGKILL kube-apiserver alone, as a crash would (etcd,
#                                     the controllers and kwok keep running); returns once it
#                                     is gone
#   scripts/kube-apiserver.sh resume  `kwokctl start cluster`: start every process of the
#                                     cluster that is not running (kwokctl skips those that
#                                     are), with the state etcd kept; returns once all five run
#                                     and kube-apiserver answers
#
# `start` returns once the API server serves and the Nodes exist; kwok reports
# them Ready at once, and the nodelifecycle controller then takes off the
# node.kubernetes.io/not-ready taint admission gives a new Node (within a
# second here). e2e/run.sh waits for that through the harness's one Kubernetes
# client (e2e/kube.ts, in e2e/clusterSetup.ts): until KWOK_NODES nodes take pods.
#
# Binaries (in <repo>/.tools/bin, git-ignored; kwokctl downloads nothing: every
# binary it runs is given as a local path, and kubectl is found first on PATH):
#   kube-apiserver, kube-controller-manager, kube-scheduler
#                   Kubernetes v1.34.4, built from the k8s.io/kubernetes Go module
#                   through tools/kube-apiserver (staging modules -> k8s.io/* v0.34.4)
#   kwok, kwokctl   sigs.k8s.io/kwok v0.7.0, built through tools/kwok
#   kubectl         v1.33.0 (k8s.io/kubectl, tools/kwok/kubectl): kwokctl runs
#                   `kubectl get --raw /healthz` to tell that the cluster is ready
#   etcd            Debian bookworm's etcd-server package (3.4.23), unpacked with
#                   `apt-get download` + `dpkg-deb -x` (no system service is
#                   installed or started); an `etcd` already on PATH is used instead.
#
# Environment (all optional):
#   APISERVER_STATE_DIR  state dir (kwokctl's KWOK_WORKDIR): kwokctl.yaml (its
#                        configuration, written by `start`), kubeconfig, and
#                        clusters/e2e/ (PKI, etcd data, logs/, pids/, kwok.yaml)
#                        (default /tmp/aks-istio-e2e-apiserver)
#   APISERVER_PORT       kube-apiserver secure port on 127.0.0.1 (default 36443)
#   ETCD_PORT            etcd client port on 127.0.0.1 (default 32379; peer port +1)
#   APISERVER_READY_TIMEOUT  seconds kwokctl waits for the cluster to be ready (default 180)
#   KWOK_NODES           number of simulated nodes kwok-node-0..N-1 (default 2)
# kube-controller-manager's, kube-scheduler's and kwok-controller's own secure
# ports are free ports kwokctl picks on 127.0.0.1, counting down from 32766.
#
# What the API server is (kwokctl's defaults for the binary runtime, bound to
# 127.0.0.1): authorization Node,RBAC; the admin user (client cert CN=kwok-admin,
# O=system:masters; the same cert serves HTTPS and its key signs service-account
# tokens) has full access; anonymous requests may read /healthz, /readyz,
# /livez, /version. Admission: the default plugins, ServiceAccount included
# (pods get the default service account and a projected token volume; the
# plugin retries for ~1-2s while the "default" ServiceAccount of a brand-new
# namespace is being created). Service CIDR: kube-apiserver's default,
# 10.0.0.0/24; the `kubernetes` Service's endpoint is the host's own address
# (kube-apiserver picks it to advertise), where nothing listens. The one flag
# added (componentsPatches in kwokctl.yaml): --feature-gates=WatchList=false,
# see below.
#
# Controllers: kube-controller-manager's default set (kwokctl passes no
# --controllers; leader election on, one member). In v1.34.4 that starts
# garbagecollector, namespace, serviceaccount, serviceaccount-token,
# legacy-serviceaccount-token-cleaner, root-ca-cert-publisher,
# clusterrole-aggregation, nodelifecycle, taint-eviction, ttl, deployment,
# replicaset, replicationcontroller, statefulset, daemonset, job, cronjob,
# ttl-after-finished, disruption, resourcequota, horizontalpodautoscaling, podgc,
# endpoint, endpointslice, endpointslicemirroring, service-cidr,
# persistentvolume-binder, -expander and -attach-detach, pvc-protection,
# pv-protection, ephemeral-volume, volumeattributesclass-protection,
# resourceclaim, csr-approving, csr-cleaner and validatingadmissionpolicy-status.
# So Deployments, StatefulSets and DaemonSets roll out and become ready, Jobs
# complete, Services with a selector get Endpoints/EndpointSlices of the Ready
# pods, PVCs bind to matching pre-created PersistentVolumes (no provisioner:
# create the PVs yourself), and namespace deletion finishes (~10-16s when the
# namespace had pods). Not running: service-lb, cloud-node-lifecycle and
# node-route (no cloud provider: LoadBalancer Services never get an address),
# node-ipam (no --allocate-node-cidrs), csr-signing (no signing key),
# bootstrap-signer and token-cleaner (off by default), dynamic provisioning.
# Node heartbeats use kwokctl's default heartbeat factor 5: node leases of
# 200s, --node-monitor-period=25s, --node-monitor-grace-period=3m20s (so a
# loaded 2-core machine does not see its nodes, and every pod with them, go
# NotReady).
#
# What is simulated: kwok-controller manages every Node (kwokctl passes
# --manage-all-nodes=true). `kwokctl scale node kwok-node` creates kwok-node-<i>
# from kwokctl's default node template: annotation kwok.x-k8s.io/node=fake,
# labels type=kwok, kubernetes.io/os=linux, kubernetes.io/arch=amd64,
# kubernetes.io/hostname, node-role.kubernetes.io/agent; allocatable and
# capacity cpu 32, memory 256Gi, pods 110; podCIDR 10.244.<i+1>.0/24 (set with
# --param). kwok's default "fast" stages (written by kwokctl into
# clusters/e2e/kwok.yaml): nodes become Ready at once and keep a Lease, every pod
# bound to them becomes Running and Ready at once (podIP from the node's
# podCIDR; probes are ignored), pods of Jobs Succeed right after, and deleted
# pods are removed at once (no grace period). kube-scheduler (default profile)
# binds pods to those nodes, so resource requests, nodeSelectors and
# taints/tolerations behave as in a real cluster. Containers never run:
# exec/logs/port-forward do not work.
#
# kube-apiserver runs with --feature-gates=WatchList=false: with it on, a watch
# from resourceVersion 0 (what kwok's informers send) is turned into a
# watch-list stream, which needs etcd progress notifications that Debian's etcd
# 3.4.23 lacks; kwok would then only see changes on its periodic relists.
#
# Requires: Go >= 1.25 for the build (apt-get for etcd when none is on PATH).
set -euo pipefail

# shellcheck source=scripts/lib-gobuild.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib-gobuild.sh"

K8S_VERSION="1.34.4"
KWOK_VERSION="0.7.0"
KUBECTL_VERSION="1.33.0"
ETCD_DEB_VERSION_PREFIX="3.4."
STATE_DIR="${APISERVER_STATE_DIR:-/tmp/aks-istio-e2e-apiserver}"
APISERVER_PORT="${APISERVER_PORT:-36443}"
ETCD_PORT="${ETCD_PORT:-32379}"
ETCD_PEER_PORT="$((ETCD_PORT + 1))"
READY_TIMEOUT="${APISERVER_READY_TIMEOUT:-180}"
KWOK_NODES="${KWOK_NODES:-2}"
[[ "$KWOK_NODES" =~ ^[0-9]+$ ]] || die "KWOK_NODES must be a number, not '$KWOK_NODES'"
CLUSTER="e2e"
CLUSTER_DIR="$STATE_DIR/clusters/$CLUSTER"
KUBECONFIG_FILE="$STATE_DIR/kubeconfig"
KWOKCTL_CONFIG="$STATE_DIR/kwokctl.yaml"

# --- binaries -------------------------------------------------------------------

# etcd: an etcd on PATH, else .tools/bin/etcd unpacked from Debian's etcd-server.
ETCD_BIN=""
ensure_etcd() {
  if [[ -x "$TOOLS_BIN/etcd" ]]; then ETCD_BIN="$TOOLS_BIN/etcd"; return 0; fi
  if command -v etcd >/dev/null 2>&1; then ETCD_BIN="$(command -v etcd)"; return 0; fi
  local start=$SECONDS
  unpack_debian_binary etcd-server usr/bin/etcd etcd
  ETCD_BIN="$TOOLS_BIN/etcd"
  # (read whole first: `grep -q` closing the pipe early would fail it under pipefail)
  grep -q "etcd Version: $ETCD_DEB_VERSION_PREFIX" <<<"$("$ETCD_BIN" --version)" \
    || log "warning: unexpected etcd version: $("$ETCD_BIN" --version | head -1)"
  log "etcd: $("$ETCD_BIN" --version | head -1) ready in $((SECONDS - start))s"
}

# k8s_ldflags VERSION: the version stamps a Kubernetes binary reports.
k8s_ldflags() {
  local v="k8s.io/component-base/version" c="k8s.io/client-go/pkg/version" ld="-s -w" p
  for p in "$v" "$c"; do
    ld+=" -X $p.gitVersion=v$1 -X $p.gitMajor=${1%%.*}"
    ld+=" -X $p.gitMinor=$(cut -d. -f2 <<<"$1") -X $p.gitTreeState=clean"
  done
  printf '%s' "$ld"
}

build_k8s() {
  local cmd ld
  ld="$(k8s_ldflags "$K8S_VERSION")"
  for cmd in kube-apiserver kube-controller-manager kube-scheduler; do
    go_build_tool "$cmd" "$REPO_ROOT/tools/kube-apiserver" "k8s.io/kubernetes/cmd/$cmd" \
      "$ld" "Kubernetes v$K8S_VERSION" {} --version
  done
}

build_kwok() {
  local cmd
  for cmd in kwok kwokctl; do
    go_build_tool "$cmd" "$REPO_ROOT/tools/kwok" "sigs.k8s.io/kwok/cmd/$cmd" \
      "-s -w" "$cmd version v$KWOK_VERSION" {} --version
  done
  go_build_tool kubectl "$REPO_ROOT/tools/kwok" ./kubectl \
    "$(k8s_ldflags "$KUBECTL_VERSION")" "Client Version: v$KUBECTL_VERSION" {} version --client
}

build_all() { ensure_go; ensure_tools_dir; build_k8s; build_kwok; ensure_etcd; }

# --- kwokctl ----------------------------------------------------------------------

# kwokctl ARGS...: kwokctl on this script's cluster. KWOK_WORKDIR keeps it (and
# kwok-controller) away from ~/.kwok; .tools/bin first on PATH makes it run the
# kubectl built here. -v WARN: its progress lines and kwok-controller's info logs off.
kwokctl() {
  KWOK_WORKDIR="$STATE_DIR" PATH="$TOOLS_BIN:$PATH" "$TOOLS_BIN/kwokctl" --name "$CLUSTER" -v WARN "$@"
}

# kwokctl's configuration (KwokctlConfiguration) in one file, what has a flag
# too: it has no flag for bindAddress (its default is 0.0.0.0), the etcd peer
# port or kubectl's path.
write_config() {
  cat >"$KWOKCTL_CONFIG" <<EOF
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokctlConfiguration
options:
  runtime: binary
  bindAddress: 127.0.0.1
  kubeApiserverPort: $APISERVER_PORT
  etcdPort: $ETCD_PORT
  etcdPeerPort: $ETCD_PEER_PORT
  etcdBinary: $ETCD_BIN
  kubeApiserverBinary: $TOOLS_BIN/kube-apiserver
  kubeControllerManagerBinary: $TOOLS_BIN/kube-controller-manager
  kubeSchedulerBinary: $TOOLS_BIN/kube-scheduler
  kwokControllerBinary: $TOOLS_BIN/kwok
  kubectlBinary: $TOOLS_BIN/kubectl
componentsPatches:
- name: kube-apiserver
  extraArgs:
  - key: feature-gates
    value: WatchList=false
EOF
}

# all_running: exit 0 when the process of every component of the cluster runs;
# else print those that do not (all of them when there is no cluster), exit 1.
all_running() {
  local table down
  if [[ ! -f "$CLUSTER_DIR/kwok.yaml" || ! -x "$TOOLS_BIN/kwokctl" ]]; then
    echo "etcd kube-apiserver kube-controller-manager kube-scheduler kwok-controller"
    return 1
  fi
  table="$(kwokctl get components -o wide 2>/dev/null || true)"
  down="$(awk 'NR > 1 && $2 != "Ready" { printf "%s%s", sep, $1; sep = " " }' <<<"$table")"
  if [[ -n "$down" || "$(wc -l <<<"$table")" -lt 6 ]]; then
    echo "${down:-unknown}"
    return 1
  fi
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# --- commands ---------------------------------------------------------------------

cmd_start() {
  build_all
  if all_running >/dev/null; then
    log "already running"
    printf '%s\n' "$KUBECONFIG_FILE"
    return 0
  fi
  # A half-started or stopped previous run: delete it first.
  cmd_stop >/dev/null 2>&1 || true

  local p start=$SECONDS
  for p in "$ETCD_PORT" "$ETCD_PEER_PORT" "$APISERVER_PORT"; do
    port_free "$p" || die "port $p on 127.0.0.1 is in use (set ETCD_PORT / APISERVER_PORT)"
  done
  mkdir -p "$STATE_DIR"
  chmod 700 "$STATE_DIR"
  write_config

  # --kubeconfig: kwokctl adds its context (kwok-e2e, current) to this file, not ~/.kube/config.
  # --wait: until every process runs and kube-apiserver answers /healthz (kwokctl only logs
  # a timeout: the scale below is what fails then).
  kwokctl --config "$KWOKCTL_CONFIG" create cluster \
    --kubeconfig "$KUBECONFIG_FILE" --wait "${READY_TIMEOUT}s" \
    || die "kwokctl create cluster failed; see $CLUSTER_DIR/logs"
  log "kube-apiserver v$K8S_VERSION ready on https://127.0.0.1:$APISERVER_PORT after $((SECONDS - start))s"

  kwokctl scale node kwok-node --replicas "$KWOK_NODES" --serial-length 1 \
    --param '.podCIDR="10.244.1.0/24"' \
    || die "kwokctl scale node failed; see $CLUSTER_DIR/logs"
  local down
  down="$(all_running)" || die "not running: $down; see $CLUSTER_DIR/logs"
  log "$KWOK_NODES kwok node(s) created; control plane up after $((SECONDS - start))s"
  printf '%s\n' "$KUBECONFIG_FILE"
}

cmd_stop() {
  [[ -d "$STATE_DIR" ]] || return 0
  if [[ -f "$CLUSTER_DIR/kwok.yaml" ]]; then
    [[ -x "$TOOLS_BIN/kwokctl" ]] || die "$TOOLS_BIN/kwokctl is missing: cannot stop the cluster in $CLUSTER_DIR"
    kwokctl delete cluster --kubeconfig "$KUBECONFIG_FILE"
    log "stopped and deleted cluster $CLUSTER"
  fi
  rm -rf "$STATE_DIR"
  log "removed $STATE_DIR"
}

# running PID: whether the process runs (a zombie nobody reaped yet does not: kwokctl starts its
# processes detached, and where process 1 does not reap orphans, as in some containers, a killed
# one stays a zombie, which kwokctl's own check, kill -0 on the pid in its pid file, takes for
# running).
running() {
  [[ -r "/proc/$1/stat" ]] && [[ "$(cut -d' ' -f3 <"/proc/$1/stat" 2>/dev/null)" != "Z" ]]
}

cmd_kill_apiserver() {
  local pidfile="$CLUSTER_DIR/pids/kube-apiserver.pid" pid i
  [[ -f "$pidfile" ]] || die "no $pidfile: the cluster is not started"
  pid="$(cat "$pidfile")"
  running "$pid" || die "kube-apiserver (pid $pid) is not running"
  kill -KILL "$pid"
  for ((i = 0; i < 100; i++)); do
    if ! running "$pid"; then
      # As kwokctl's own stop does after a kill: `resume` starts what has no pid file.
      rm -f "$pidfile"
      log "killed kube-apiserver (pid $pid)"
      return 0
    fi
    sleep 0.1
  done
  die "kube-apiserver (pid $pid) still runs 10 s after SIGKILL"
}

cmd_resume() {
  local start=$SECONDS down
  [[ -f "$CLUSTER_DIR/kwok.yaml" ]] || die "no cluster in $CLUSTER_DIR to resume"
  # A process that exited (a controller that lost its leader lease while kube-apiserver was away)
  # may be a zombie kwokctl takes for running: forget its pid file, so kwokctl starts it again.
  local pidfile
  for pidfile in "$CLUSTER_DIR"/pids/*.pid; do
    [[ -f "$pidfile" ]] || continue
    running "$(cat "$pidfile")" || { log "not running: $(basename "$pidfile" .pid)"; rm -f "$pidfile"; }
  done
  kwokctl start cluster --wait "${READY_TIMEOUT}s" || die "kwokctl start cluster failed; see $CLUSTER_DIR/logs"
  down="$(all_running)" || die "not running after kwokctl start cluster: $down; see $CLUSTER_DIR/logs"
  log "resumed: every process runs and kube-apiserver answers after $((SECONDS - start))s"
}

cmd_status() {
  local down
  if down="$(all_running)"; then
    log "running: etcd kube-apiserver kube-controller-manager kube-scheduler kwok-controller"
    printf '%s\n' "$KUBECONFIG_FILE"
  elif [[ ! -d "$STATE_DIR" ]]; then
    log "not running"
    return 1
  else
    log "not running properly: down: $down"
    return 1
  fi
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  env) printf 'export KUBECONFIG=%q\n' "$KUBECONFIG_FILE" ;;
  status) cmd_status ;;
  build) build_all; printf '%s\n' "$TOOLS_BIN" ;;
  kill-apiserver) cmd_kill_apiserver ;;
  resume) cmd_resume ;;
  *) die "usage: $0 start|stop|env|status|build|kill-apiserver|resume" ;;
esac
