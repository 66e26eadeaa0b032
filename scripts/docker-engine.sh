#!/usr/bin/env bash
# docker-engine.sh - a Docker engine of the project's own, for the image checks (scripts/images-test.sh):
# Debian's docker.io daemon started by hand as root (no systemd), with its own data root, exec
# root, socket and pid file in one state directory, so a Docker the machine already runs (and its
# images, containers and /etc/docker/daemon.json) is neither used nor touched.
#
# Usage:
#   bash scripts/docker-engine.sh check     exit 0 when an engine can run here (Linux, root with
#                                           CAP_SYS_ADMIN, so not an unprivileged container, dockerd
#                                           or apt-get to install it); else print why and exit 3
#   bash scripts/docker-engine.sh install   apt-get install docker.io when dockerd or docker is missing
#   bash scripts/docker-engine.sh start     install when missing, start dockerd (idempotent), wait for it
#   eval "$(bash scripts/docker-engine.sh env)"   point the docker client at it (DOCKER_HOST)
#   bash scripts/docker-engine.sh status    print whether it runs, and its version
#   bash scripts/docker-engine.sh stop      stop dockerd and the containerd it started (idempotent)
#   bash scripts/docker-engine.sh purge     stop, then delete the state directory (images, containers,
#                                           build cache)
#
# State: $DOCKER_ENGINE_DIR (default /tmp/voting-docker): data/ (--data-root: images, overlay2),
# run/ (--exec-root: containerd's state and socket), docker.sock, docker.pid, dockerd.log and an
# empty daemon.json (--config-file). Keep the path short: containerd's socket lives under run/.
# Network: no bridge, no iptables or NAT rules (--bridge=none --iptables=false --ip-masq=false):
# builds and containers use --network host (or none), and the host's network stays as it is.
# containerd: the one dockerd starts itself, or the machine's when one is already running at
# /run/containerd (dockerd's own rule), under namespaces of its own (voting-moby, voting-plugins).
set -euo pipefail

DIR="${DOCKER_ENGINE_DIR:-/tmp/voting-docker}"
SOCK="$DIR/docker.sock"
PIDFILE="$DIR/docker.pid"
LOG="$DIR/dockerd.log"
export PATH="$PATH:/usr/sbin:/sbin"

log() { printf '[docker-engine] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

# Why no engine can run here, or nothing when one can.
impossible() {
  if [[ "$(uname -s)" != Linux ]]; then echo "not Linux: dockerd runs on Linux"; return; fi
  if [[ "$(id -u)" != 0 ]]; then
    echo "not root, and dockerd and debootstrap (for the base image) run as root here; run the tests as root"
    return
  fi
  # dockerd mounts (overlay2, its roots): it needs CAP_SYS_ADMIN, which an unprivileged container lacks.
  local capeff
  capeff="$(awk '/^CapEff:/ { print $2 }' /proc/self/status 2>/dev/null)"
  if [[ -n "$capeff" ]] && (((16#$capeff >> 21 & 1) == 0)); then
    echo "no CAP_SYS_ADMIN (an unprivileged container?): dockerd cannot mount its filesystems"
    return
  fi
  if ! { have dockerd && have docker; } && ! have apt-get; then
    echo "no dockerd, and no apt-get to install Debian's docker.io"
  fi
}

apt_update() { log "apt-get update"; DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null >&2; }

ensure_installed() {
  have dockerd && have docker && return 0
  local why
  why="$(impossible)"
  [[ -z "$why" ]] || die "no Docker engine can run here: $why"
  # apt-get update only when the package lists do not know the package yet, or after a failed install.
  apt-cache show docker.io >/dev/null 2>&1 || apt_update
  log "installing Debian's docker.io (apt-get, no recommends)"
  local install=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends docker.io)
  if ! "${install[@]}" </dev/null >&2; then
    log "apt-get install failed; apt-get update and one more try (stale package lists?)"
    apt_update
    "${install[@]}" </dev/null >&2
  fi
  if ! have dockerd || ! have docker; then die "docker.io is installed, but dockerd or docker is still not on PATH"; fi
}

pid_alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

client() { DOCKER_HOST="unix://$SOCK" docker "$@"; }

answers() { client version --format '{{.Server.Version}}' >/dev/null 2>&1; }

start() {
  ensure_installed
  if pid_alive "$PIDFILE" && answers; then
    log "dockerd already running (pid $(cat "$PIDFILE"), unix://$SOCK)"
    return 0
  fi
  local sockpath="$DIR/run/containerd/containerd-debug.sock"
  [[ ${#sockpath} -le 100 ]] || die "DOCKER_ENGINE_DIR=$DIR is too long for containerd's unix sockets (${#sockpath} > 100 characters)"
  mkdir -p "$DIR/data" "$DIR/run"
  rm -f "$SOCK" "$PIDFILE"
  printf '{}\n' >"$DIR/daemon.json"
  local t0=$SECONDS
  # setsid: the daemon outlives this script and does not get the terminal's Ctrl-C; `stop` ends it.
  setsid nohup dockerd \
    --config-file "$DIR/daemon.json" \
    --data-root "$DIR/data" \
    --exec-root "$DIR/run" \
    --host "unix://$SOCK" \
    --pidfile "$PIDFILE" \
    --bridge=none --iptables=false --ip-masq=false \
    --containerd-namespace voting-moby --containerd-plugins-namespace voting-plugins \
    >>"$LOG" 2>&1 </dev/null &
  local pid=$! i
  for ((i = 0; i < 600; i++)); do
    answers && break
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 30 "$LOG" >&2 || true
      die "dockerd exited during start (log: $LOG)"
    fi
    sleep 0.1
  done
  answers || { tail -n 30 "$LOG" >&2; die "dockerd did not answer in 60 s (log: $LOG)"; }
  log "dockerd $(client version --format '{{.Server.Version}}') ready in $((SECONDS - t0)) s at unix://$SOCK" \
    "($(client info --format 'storage {{.Driver}}, cgroup v{{.CgroupVersion}}, runtime {{.DefaultRuntime}}' 2>/dev/null))"
}

stop_pid() { # stop_pid PID NAME
  local pid=$1 name=$2 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 300; i++)); do
    kill -0 "$pid" 2>/dev/null || { log "$name stopped"; return 0; }
    sleep 0.1
  done
  log "$name did not stop in 30 s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
}

stop() {
  if pid_alive "$PIDFILE"; then stop_pid "$(cat "$PIDFILE")" dockerd; fi
  rm -f "$PIDFILE"
  # The containerd dockerd started exits with it; one left behind (dockerd killed) is stopped here.
  local cpid="$DIR/run/containerd/containerd.pid"
  if pid_alive "$cpid"; then stop_pid "$(cat "$cpid")" containerd; fi
  return 0
}

purge() {
  stop
  [[ -d "$DIR" ]] || return 0
  # Mounts left under the state directory (a daemon that was killed) go first, deepest first.
  local m
  while IFS= read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done < <(awk -v d="$DIR/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r)
  rm -rf "$DIR"
  log "deleted $DIR"
}

case "${1:-}" in
  check)
    why="$(impossible)"
    if [[ -n "$why" ]]; then echo "$why"; exit 3; fi
    ;;
  install) ensure_installed ;;
  start) start ;;
  env)
    printf 'export DOCKER_HOST=%q\n' "unix://$SOCK"
    ;;
  status)
    if pid_alive "$PIDFILE" && answers; then
      echo "dockerd: running (pid $(cat "$PIDFILE"), version $(client version --format '{{.Server.Version}}'), unix://$SOCK)"
    else
      echo "dockerd: stopped"
    fi
    ;;
  stop) stop ;;
  purge) purge ;;
  *)
    echo "usage: $0 check|install|start|env|status|stop|purge" >&2
    exit 2
    ;;
esac
