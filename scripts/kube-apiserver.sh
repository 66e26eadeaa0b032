#!/usr/bin/env bash
# kube-apiserver.sh - a real, throwaway Kubernetes control plane on loopback for
# e2e tests: etcd + kube-apiserver + kube-controller-manager + kube-scheduler,
# and kwok ("Kubernetes WithOut Kubelet") standing in for the kubelets of two
# simulated nodes. Pods are scheduled and reported Running/Ready, but no
# container ever runs and no image is pulled.
#
# Usage:
#   scripts/kube-apiserver.sh start   build/fetch binaries if needed, start etcd,
#                                     kube-apiserver, kube-controller-manager,
#                                     kube-scheduler and kwok, create the fake nodes,
#                                     wait until they are Ready, write the kubeconfig
#                                     (context "e2e"), print its path
#   scripts/kube-apiserver.sh stop    stop all five and remove the state dir
#   scripts/kube-apiserver.sh env     print `export KUBECONFIG=...`
#   scripts/kube-apiserver.sh status  exit 0 and print the kubeconfig path if all five
#                                     are up (else say which are not, exit 1)
#   scripts/kube-apiserver.sh build   only build/fetch the binaries
#
# Binaries (in <repo>/.tools/bin, git-ignored):
#   kube-apiserver, kube-controller-manager, kube-scheduler
#                   Kubernetes v1.34.4, built from the k8s.io/kubernetes Go module
#                   through tools/kube-apiserver (staging modules -> k8s.io/* v0.34.4)
#   kwok            sigs.k8s.io/kwok v0.7.0, built through tools/kwok
#   etcd            Debian bookworm's etcd-server package (3.4.23), unpacked with
#                   `apt-get download` + `dpkg-deb -x` (no system service is
#                   installed or started); an `etcd` already on PATH is used instead.
#
# Environment (all optional):
#   APISERVER_STATE_DIR  state dir: certs, etcd data, logs, pids, kubeconfig
#                        (default /tmp/aks-istio-e2e-apiserver)
#   APISERVER_PORT       kube-apiserver secure port on 127.0.0.1 (default 36443)
#   ETCD_PORT            etcd client port on 127.0.0.1 (default 32379; peer port +1)
#   APISERVER_READY_TIMEOUT  seconds to wait for /readyz (default 180)
#   KWOK_NODES           number of fake nodes kwok-node-0..N-1 (default 2)
#
# What the API server is: RBAC authorization; the admin user (client cert,
# CN=e2e-admin, O=system:masters) has full access; anonymous requests may read
# /readyz, /livez, /version. Admission: the default plugins, ServiceAccount
# included (pods get the default service account and a projected token volume;
# the plugin retries for ~1-2s while the "default" ServiceAccount of a brand-new
# namespace is being created).
#
# Controllers (kube-controller-manager --controllers): garbagecollector,
# namespace, serviceaccount, serviceaccount-token, root-ca-cert-publisher,
# clusterrole-aggregation, nodelifecycle, deployment, replicaset, statefulset,
# daemonset, job, podgc, endpoint, endpointslice, endpointslicemirroring,
# persistentvolume-binder, pvc-protection, pv-protection. So Deployments,
# StatefulSets and DaemonSets roll out and become ready, Jobs complete,
# Services with a selector get Endpoints/EndpointSlices of the Ready pods, PVCs
# bind to matching pre-created PersistentVolumes (no provisioner, no
# StorageClass: create the PVs yourself), and namespace deletion finishes
# (~16s when the namespace had pods: the namespace controller re-checks after
# half the pods' 30s grace period, as in a real cluster). Not running: cronjob,
# horizontalpodautoscaling, service-lb (LoadBalancer Services never get an
# address), node-ipam, attach-detach, ttl-after-finished, dynamic provisioning.
#
# What is simulated: kwok manages the Nodes annotated kwok.x-k8s.io/node=fake
# (created by `start`: kwok-node-<i>, labels type=kwok, kubernetes.io/os=linux,
# kubernetes.io/hostname; allocatable cpu 32, memory 256Gi, pods 110; podCIDR
# 10.244.<i+1>.0/24) with its default "fast" stages: nodes become Ready
# at once and keep a Lease, every pod bound to them becomes Running and Ready
# at once (podIP from the node's podCIDR; probes are ignored), pods of Jobs
# Succeed right after, and deleted pods are removed at once (no grace period).
# kube-scheduler (default profile) binds pods to those nodes, so resource
# requests, nodeSelectors and taints/tolerations behave as in a real cluster.
# The node.kubernetes.io/not-ready taint a new Node gets is removed by the
# nodelifecycle controller once kwok reports it Ready; `start` waits for that.
# Containers never run: exec/logs/port-forward do not work.
#
# kube-apiserver runs with --feature-gates=WatchList=false: with it on, a watch
# from resourceVersion 0 (what kwok's informers send) is turned into a
# watch-list stream, which needs etcd progress notifications that Debian's etcd
# 3.4.23 lacks; kwok would then only see changes on its periodic relists.
#
# Requires: Go >= 1.25 for the build, openssl, curl (installed with apt-get when
# missing). kubectl is not needed.
set -euo pipefail

# shellcheck source=scripts/lib-gobuild.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib-gobuild.sh"

K8S_VERSION="1.34.4"
KWOK_VERSION="0.7.0"
ETCD_DEB_VERSION_PREFIX="3.4."
STATE_DIR="${APISERVER_STATE_DIR:-/tmp/aks-istio-e2e-apiserver}"
APISERVER_PORT="${APISERVER_PORT:-36443}"
ETCD_PORT="${ETCD_PORT:-32379}"
ETCD_PEER_PORT="$((ETCD_PORT + 1))"
READY_TIMEOUT="${APISERVER_READY_TIMEOUT:-180}"
SERVICE_CIDR="10.0.0.0/24"
KUBECONFIG_FILE="$STATE_DIR/kubeconfig"
KWOK_NODES="${KWOK_NODES:-2}"
[[ "$KWOK_NODES" =~ ^[0-9]+$ ]] || die "KWOK_NODES must be a number, not '$KWOK_NODES'"
# Every process `start` runs, in start order (`stop` goes in reverse).
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)

# --- packages -----------------------------------------------------------------

APT_UPDATED=""
apt_update_once() {
  [[ -n "$APT_UPDATED" ]] && return 0
  log "apt-get update"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  APT_UPDATED=1
}

ensure_cmd() { # ensure_cmd COMMAND DEBIAN_PACKAGE
  command -v "$1" >/dev/null 2>&1 && return 0
  [[ "$(id -u)" == 0 ]] || die "$1 is missing; install the Debian package $2"
  if ! apt-cache show "$2" >/dev/null 2>&1; then apt_update_once; fi
  log "apt-get install $2"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >&2 || {
    apt_update_once
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >&2
  }
}

# etcd: an etcd on PATH, else .tools/bin/etcd unpacked from Debian's etcd-server.
ETCD_BIN=""
ensure_etcd() {
  if [[ -x "$TOOLS_BIN/etcd" ]]; then ETCD_BIN="$TOOLS_BIN/etcd"; return 0; fi
  if command -v etcd >/dev/null 2>&1; then ETCD_BIN="$(command -v etcd)"; return 0; fi
  command -v apt-get >/dev/null 2>&1 || die "no etcd on PATH and no apt-get to fetch Debian's etcd-server"
  ensure_tools_dir
  local tmp start=$SECONDS
  tmp="$(mktemp -d)"
  chmod a+rwx "$tmp" # apt-get download runs as the _apt user
  if ! apt-cache show etcd-server >/dev/null 2>&1; then apt_update_once; fi
  log "etcd: apt-get download etcd-server"
  (cd "$tmp" && apt-get download etcd-server >&2) || {
    apt_update_once
    (cd "$tmp" && apt-get download etcd-server >&2)
  }
  dpkg-deb -x "$tmp"/etcd-server_*.deb "$tmp/root"
  install -m 0755 "$tmp/root/usr/bin/etcd" "$TOOLS_BIN/etcd"
  rm -rf "$tmp"
  ETCD_BIN="$TOOLS_BIN/etcd"
  # (read whole first: `grep -q` closing the pipe early would fail it under pipefail)
  grep -q "etcd Version: $ETCD_DEB_VERSION_PREFIX" <<<"$("$ETCD_BIN" --version)" \
    || log "warning: unexpected etcd version: $("$ETCD_BIN" --version | head -1)"
  log "etcd: $("$ETCD_BIN" --version | head -1) ready in $((SECONDS - start))s"
}

build_k8s() {
  ensure_go
  ensure_tools_dir
  local v="k8s.io/component-base/version" c="k8s.io/client-go/pkg/version" ld cmd
  ld="-s -w"
  for p in "$v" "$c"; do
    ld+=" -X $p.gitVersion=v$K8S_VERSION -X $p.gitMajor=${K8S_VERSION%%.*}"
    ld+=" -X $p.gitMinor=$(cut -d. -f2 <<<"$K8S_VERSION") -X $p.gitTreeState=clean"
  done
  for cmd in kube-apiserver kube-controller-manager kube-scheduler; do
    go_build_tool "$cmd" "$REPO_ROOT/tools/kube-apiserver" "k8s.io/kubernetes/cmd/$cmd" \
      "$ld" "Kubernetes v$K8S_VERSION" {} --version
  done
}

build_kwok() {
  ensure_go
  ensure_tools_dir
  go_build_tool kwok "$REPO_ROOT/tools/kwok" sigs.k8s.io/kwok/cmd/kwok \
    "-s -w" "kwok version v$KWOK_VERSION" {} --version
}

build_all() { build_k8s; build_kwok; ensure_etcd; }

# --- processes ------------------------------------------------------------------

# pid_alive NAME: the pid recorded for NAME is running that program.
pid_alive() {
  local f="$STATE_DIR/$1.pid" pid
  [[ -f "$f" ]] || return 1
  pid="$(cat "$f")"
  [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$1"
}

stop_one() {
  local name="$1" pid i
  if pid_alive "$name"; then
    pid="$(cat "$STATE_DIR/$name.pid")"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
    log "stopped $name (pid $pid)"
  fi
  rm -f "$STATE_DIR/$name.pid"
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

readyz() {
  curl -fsS --max-time 3 --cacert "$STATE_DIR/pki/ca.crt" \
    --cert "$STATE_DIR/pki/admin.crt" --key "$STATE_DIR/pki/admin.key" \
    "https://127.0.0.1:$APISERVER_PORT/readyz" >/dev/null 2>&1
}

# --- credentials ------------------------------------------------------------------

make_pki() {
  local d="$STATE_DIR/pki"
  mkdir -p "$d"
  chmod 700 "$d"
  (
    cd "$d"
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 7 -keyout ca.key -out ca.crt \
      -subj "/CN=e2e-apiserver-ca" 2>/dev/null
    # kube-apiserver serving cert: loopback + the in-cluster names/IP of the kubernetes Service.
    openssl req -newkey rsa:2048 -nodes -sha256 -keyout apiserver.key -out apiserver.csr \
      -subj "/CN=kube-apiserver" 2>/dev/null
    printf '%s\n' "subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local" \
      "extendedKeyUsage=serverAuth" "keyUsage=critical,digitalSignature,keyEncipherment" >apiserver.ext
    openssl x509 -req -sha256 -days 7 -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
      -extfile apiserver.ext -out apiserver.crt 2>/dev/null
    # admin user: client cert in group system:masters.
    openssl req -newkey rsa:2048 -nodes -sha256 -keyout admin.key -out admin.csr \
      -subj "/O=system:masters/CN=e2e-admin" 2>/dev/null
    printf '%s\n' "extendedKeyUsage=clientAuth" "keyUsage=critical,digitalSignature,keyEncipherment" >admin.ext
    openssl x509 -req -sha256 -days 7 -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
      -extfile admin.ext -out admin.crt 2>/dev/null
    # service-account token signing key pair.
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    rm -f ./*.csr ./*.ext ./*.srl
  )
}

write_kubeconfig() {
  local b64="base64 -w0" tmp="$KUBECONFIG_FILE.tmp"
  cat >"$tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority-data: $($b64 <"$STATE_DIR/pki/ca.crt")
users:
- name: e2e-admin
  user:
    client-certificate-data: $($b64 <"$STATE_DIR/pki/admin.crt")
    client-key-data: $($b64 <"$STATE_DIR/pki/admin.key")
contexts:
- name: e2e
  context:
    cluster: e2e
    user: e2e-admin
    namespace: default
current-context: e2e
EOF
  chmod 600 "$tmp"
  mv -f "$tmp" "$KUBECONFIG_FILE"
}

# --- the simulated nodes ------------------------------------------------------------

# api METHOD PATH [curl args...]: a request to the API server as the admin user.
api() {
  local method="$1" path="$2"; shift 2
  curl -fsS --max-time 10 -X "$method" --cacert "$STATE_DIR/pki/ca.crt" \
    --cert "$STATE_DIR/pki/admin.crt" --key "$STATE_DIR/pki/admin.key" \
    "$@" "https://127.0.0.1:$APISERVER_PORT$path"
}

node_json() { # node_json INDEX
  local name="kwok-node-$1" cidr="10.244.$(($1 + 1)).0/24" ip="10.240.0.$(($1 + 4))"
  local res='{"cpu":"32","memory":"256Gi","pods":"110","ephemeral-storage":"1Ti"}'
  cat <<EOF_NODE
{"apiVersion":"v1","kind":"Node","metadata":{"name":"$name",
 "annotations":{"kwok.x-k8s.io/node":"fake","node.alpha.kubernetes.io/ttl":"0"},
 "labels":{"type":"kwok","kubernetes.io/hostname":"$name","kubernetes.io/os":"linux",
  "kubernetes.io/arch":"amd64","kubernetes.io/role":"agent","node-role.kubernetes.io/agent":""}},
 "spec":{"podCIDR":"$cidr","podCIDRs":["$cidr"]},
 "status":{"allocatable":$res,"capacity":$res,
  "addresses":[{"type":"InternalIP","address":"$ip"},{"type":"Hostname","address":"$name"}]}}
EOF_NODE
}

create_nodes() {
  local i
  for ((i = 0; i < KWOK_NODES; i++)); do
    node_json "$i" | api POST /api/v1/nodes -H 'Content-Type: application/json' --data-binary @- >/dev/null \
      || die "could not create node kwok-node-$i"
  done
}

# ready_nodes: how many kwok nodes have the condition Ready=True and no
# node.kubernetes.io/not-ready (or unreachable) taint, i.e. take pods.
ready_nodes() {
  local nodes
  nodes="$({ api GET "/api/v1/nodes?labelSelector=type%3Dkwok" 2>/dev/null || true; } | tr -d '[:space:]')"
  if grep -q '"key":"node.kubernetes.io/\(not-ready\|unreachable\)"' <<<"$nodes"; then
    echo 0
  else
    grep -o '"type":"Ready","status":"True"' <<<"$nodes" | wc -l
  fi
}

# --- commands ---------------------------------------------------------------------

all_alive() {
  local c
  for c in "${COMPONENTS[@]}"; do pid_alive "$c" || return 1; done
}

# started NAME: die with the log's tail unless NAME is still running.
started() {
  pid_alive "$1" || die "$1 exited; see $STATE_DIR/$1.log: $(tail -5 "$STATE_DIR/$1.log")"
}

cmd_start() {
  if all_alive && readyz; then
    log "already running"
    printf '%s\n' "$KUBECONFIG_FILE"
    return 0
  fi
  # A half-started previous run: clean it up first.
  cmd_stop >/dev/null 2>&1 || true

  ensure_cmd openssl openssl
  ensure_cmd curl curl
  build_all

  for p in "$ETCD_PORT" "$ETCD_PEER_PORT" "$APISERVER_PORT"; do
    port_free "$p" || die "port $p on 127.0.0.1 is in use (set ETCD_PORT / APISERVER_PORT)"
  done

  mkdir -p "$STATE_DIR"
  chmod 700 "$STATE_DIR"
  make_pki
  local start=$SECONDS c

  setsid "$ETCD_BIN" --name e2e --data-dir "$STATE_DIR/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "e2e=http://127.0.0.1:$ETCD_PEER_PORT" --initial-cluster-state new \
    --log-level warn \
    </dev/null >"$STATE_DIR/etcd.log" 2>&1 &
  echo $! >"$STATE_DIR/etcd.pid"

  local i
  for ((i = 0; i < 100; i++)); do
    curl -fsS --max-time 2 "http://127.0.0.1:$ETCD_PORT/health" 2>/dev/null | grep -q '"health":"true"' && break
    started etcd
    sleep 0.2
  done
  ((i < 100)) || die "etcd not healthy after 20s; see $STATE_DIR/etcd.log"
  log "etcd healthy on 127.0.0.1:$ETCD_PORT after $((SECONDS - start))s"

  local pki="$STATE_DIR/pki"
  setsid "$TOOLS_BIN/kube-apiserver" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$APISERVER_PORT" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
    --client-ca-file="$pki/ca.crt" \
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --api-audiences=https://kubernetes.default.svc.cluster.local \
    --service-cluster-ip-range="$SERVICE_CIDR" \
    --authorization-mode=RBAC \
    --feature-gates=WatchList=false \
    --endpoint-reconciler-type=none \
    --allow-privileged=true \
    --profiling=false \
    --cert-dir="$STATE_DIR/apiserver-certs" \
    </dev/null >"$STATE_DIR/kube-apiserver.log" 2>&1 &
  echo $! >"$STATE_DIR/kube-apiserver.pid"

  local deadline=$((SECONDS + READY_TIMEOUT))
  until readyz; do
    started kube-apiserver
    ((SECONDS < deadline)) || die "kube-apiserver not ready after ${READY_TIMEOUT}s; see $STATE_DIR/kube-apiserver.log"
    sleep 0.3
  done
  write_kubeconfig
  log "kube-apiserver v$K8S_VERSION ready on https://127.0.0.1:$APISERVER_PORT after $((SECONDS - start))s"

  setsid "$TOOLS_BIN/kube-controller-manager" \
    --kubeconfig="$KUBECONFIG_FILE" \
    --controllers=garbagecollector,namespace,serviceaccount,serviceaccount-token,root-ca-cert-publisher,clusterrole-aggregation,nodelifecycle,deployment,replicaset,statefulset,daemonset,job,podgc,endpoint,endpointslice,endpointslicemirroring,persistentvolume-binder,pvc-protection,pv-protection \
    --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
    --use-service-account-credentials=false --leader-elect=false \
    --bind-address=127.0.0.1 --secure-port=0 --profiling=false \
    --node-monitor-grace-period=5m \
    </dev/null >"$STATE_DIR/kube-controller-manager.log" 2>&1 &
  echo $! >"$STATE_DIR/kube-controller-manager.pid"

  setsid "$TOOLS_BIN/kube-scheduler" \
    --kubeconfig="$KUBECONFIG_FILE" --leader-elect=false \
    --bind-address=127.0.0.1 --secure-port=0 --profiling=false \
    </dev/null >"$STATE_DIR/kube-scheduler.log" 2>&1 &
  echo $! >"$STATE_DIR/kube-scheduler.pid"

  # KWOK_WORKDIR: kwok would otherwise also read ~/.kwok/kwok.yaml. No config
  # file and no Stage CRDs: kwok uses its built-in default node and pod stages.
  # The node leases kwok renews keep the nodes Ready; without them the node
  # lifecycle controller marks them NotReady every ~50 s and every pod unready
  # with them (the controller-manager's grace period is widened for a loaded
  # 2-core machine too).
  KWOK_WORKDIR="$STATE_DIR/kwok" setsid "$TOOLS_BIN/kwok" \
    --kubeconfig="$KUBECONFIG_FILE" \
    --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
    --cidr=10.244.0.0/24 --node-lease-duration-seconds=40 \
    </dev/null >"$STATE_DIR/kwok.log" 2>&1 &
  echo $! >"$STATE_DIR/kwok.pid"

  create_nodes
  deadline=$((SECONDS + 60))
  until (($(ready_nodes) >= KWOK_NODES)); do
    for c in kube-controller-manager kube-scheduler kwok; do started "$c"; done
    ((SECONDS < deadline)) || die "kwok nodes not Ready after 60s; see $STATE_DIR/kwok.log"
    sleep 0.2
  done
  for c in kube-controller-manager kube-scheduler kwok; do started "$c"; done
  log "$KWOK_NODES kwok node(s) Ready; control plane up after $((SECONDS - start))s"
  printf '%s\n' "$KUBECONFIG_FILE"
}

cmd_stop() {
  if [[ -d "$STATE_DIR" ]]; then
    local i
    for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do stop_one "${COMPONENTS[i]}"; done
    rm -rf "$STATE_DIR"
    log "removed $STATE_DIR"
  fi
}

cmd_status() {
  local c down=()
  for c in "${COMPONENTS[@]}"; do pid_alive "$c" || down+=("$c"); done
  if ((${#down[@]} == 0)) && readyz; then
    log "running: ${COMPONENTS[*]}; $(ready_nodes) kwok node(s) Ready"
    printf '%s\n' "$KUBECONFIG_FILE"
  elif [[ ! -d "$STATE_DIR" ]]; then
    log "not running"
    return 1
  else
    log "not running properly: down: ${down[*]:-none}; kube-apiserver /readyz: $(readyz && echo ok || echo failing)"
    return 1
  fi
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  env) printf 'export KUBECONFIG=%q\n' "$KUBECONFIG_FILE" ;;
  status) cmd_status ;;
  build) build_all; printf '%s\n' "$TOOLS_BIN" ;;
  *) die "usage: $0 start|stop|env|status|build" ;;
esac
