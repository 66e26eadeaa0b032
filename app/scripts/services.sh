#!/usr/bin/env bash
# Throwaway Redis and MariaDB servers on 127.0.0.1 for the voting app's tests and bench.
#
#   services.sh start        install if missing, start redis + mariadb (idempotent)
#   services.sh stop         stop both (idempotent)
#   services.sh status       print what is running
#   services.sh env          print the environment settings the app needs to reach them
#   services.sh start-redis | stop-redis | start-mysql | stop-mysql
#                            one server at a time (the outage tests use these)
#
# Nothing here touches the system's own redis/mariadb data or services: the servers
# run from a state directory (default /tmp/voting-services), on non-default ports.
# Works as root or not, with no stdin, with CI=true.
set -euo pipefail

STATE_DIR="${VOTING_SERVICES_DIR:-/tmp/voting-services}"
REDIS_PORT="${TEST_REDIS_PORT:-16379}"
MYSQL_PORT="${TEST_MYSQL_PORT:-13306}"
MYSQL_DB="${TEST_MYSQL_DATABASE:-votes}"
MYSQL_USER="${TEST_MYSQL_USER:-voting}"
MYSQL_PASS="${TEST_MYSQL_PASSWORD:-voting-test-password}"
NEED_CHROMIUM="${SERVICES_NEED_CHROMIUM:-1}"

REDIS_DIR="$STATE_DIR/redis"
MYSQL_DIR="$STATE_DIR/mysql"
MYSQL_DATA="$MYSQL_DIR/data"
MYSQL_SOCK="$MYSQL_DIR/mysqld.sock"
MYSQL_PID="$MYSQL_DIR/mysqld.pid"
REDIS_PID="$REDIS_DIR/redis.pid"

export PATH="$PATH:/usr/sbin:/sbin"

log() { echo "[services] $*" >&2; }
die() { echo "[services] ERROR: $*" >&2; exit 1; }

have() { command -v "$1" >/dev/null 2>&1; }

ensure_installed() {
  local pkgs=()
  have redis-server || pkgs+=(redis-server)
  { have mariadbd && have mariadb-install-db && have mariadb; } || pkgs+=(mariadb-server mariadb-client)
  if [ "$NEED_CHROMIUM" = "1" ] && [ ! -x /usr/bin/chromium ]; then pkgs+=(chromium); fi
  [ "${#pkgs[@]}" -eq 0 ] && return 0

  have apt-get || die "missing ${pkgs[*]} and no apt-get to install them"
  local sudo=()
  if [ "$(id -u)" != "0" ]; then
    have sudo || die "missing ${pkgs[*]}; run as root or install them"
    sudo=(sudo -n)
  fi
  log "installing ${pkgs[*]} (apt)"
  # apt-get update only when the package lists do not know a package yet.
  local p
  for p in "${pkgs[@]}"; do
    if ! apt-cache show "$p" >/dev/null 2>&1; then
      log "apt-get update (package lists do not know $p)"
      "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null
      break
    fi
  done
  local install=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${pkgs[@]}")
  if ! "${install[@]}" </dev/null; then
    log "apt-get install failed; apt-get update and one more try (stale package lists?)"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null
    "${install[@]}" </dev/null
  fi
}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() { # wait_for SECONDS DESCRIPTION CMD...
  local secs=$1 what=$2; shift 2
  local i
  for ((i = 0; i < secs * 10; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  die "timed out after ${secs}s waiting for $what"
}

stop_pidfile() { # stop_pidfile PIDFILE NAME
  local pidfile=$1 name=$2 pid i
  if ! pid_alive "$pidfile"; then rm -f "$pidfile"; return 0; fi
  pid=$(cat "$pidfile")
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 300; i++)); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; log "$name stopped"; return 0; }
    sleep 0.1
  done
  log "$name did not stop in 30s; killing"
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

start_redis() {
  mkdir -p "$REDIS_DIR"
  if pid_alive "$REDIS_PID" && redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    log "redis already running on 127.0.0.1:$REDIS_PORT"; return 0
  fi
  port_open "$REDIS_PORT" && die "port $REDIS_PORT is taken by another process"
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$REDIS_DIR" \
    --daemonize yes --pidfile "$REDIS_PID" --logfile "$REDIS_DIR/redis.log" \
    --save "" --appendonly no --protected-mode yes </dev/null
  wait_for 20 "redis on port $REDIS_PORT" redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping
  log "redis running on 127.0.0.1:$REDIS_PORT"
}

mysql_root() { mariadb --no-defaults --protocol=socket --socket="$MYSQL_SOCK" -uroot "$@" </dev/null; }

start_mysql() {
  mkdir -p "$MYSQL_DIR"
  if pid_alive "$MYSQL_PID" && mysql_root -e 'SELECT 1' >/dev/null 2>&1; then
    log "mariadb already running on 127.0.0.1:$MYSQL_PORT"; return 0
  fi
  port_open "$MYSQL_PORT" && die "port $MYSQL_PORT is taken by another process"
  local userarg=()
  [ "$(id -u)" = "0" ] && userarg=(--user=root)
  if [ ! -d "$MYSQL_DATA/mysql" ]; then
    log "initialising mariadb datadir $MYSQL_DATA"
    rm -rf "$MYSQL_DATA"
    mariadb-install-db --no-defaults --datadir="$MYSQL_DATA" "${userarg[@]}" \
      --auth-root-authentication-method=normal --skip-test-db \
      >"$MYSQL_DIR/install.log" 2>&1 </dev/null || { cat "$MYSQL_DIR/install.log" >&2; die "mariadb-install-db failed"; }
  fi
  # Test-only durability settings (flush the redo log once a second) keep the suite fast.
  nohup mariadbd --no-defaults --datadir="$MYSQL_DATA" "${userarg[@]}" \
    --bind-address=127.0.0.1 --port="$MYSQL_PORT" --socket="$MYSQL_SOCK" \
    --pid-file="$MYSQL_PID" --log-error="$MYSQL_DIR/mysqld.err" \
    --skip-name-resolve --innodb-buffer-pool-size=64M --innodb-log-file-size=48M \
    --innodb-flush-log-at-trx-commit=2 --max-connections=200 \
    >/dev/null 2>&1 </dev/null &
  local i
  for ((i = 0; i < 600; i++)); do
    mysql_root -e 'SELECT 1' >/dev/null 2>&1 && break
    if ! kill -0 $! 2>/dev/null; then
      tail -n 30 "$MYSQL_DIR/mysqld.err" >&2 || true
      die "mariadbd exited during start"
    fi
    sleep 0.1
  done
  mysql_root -e 'SELECT 1' >/dev/null 2>&1 || { tail -n 30 "$MYSQL_DIR/mysqld.err" >&2; die "mariadb did not come up in 60s"; }
  mysql_root -e "
    CREATE DATABASE IF NOT EXISTS \`$MYSQL_DB\`;
    CREATE USER IF NOT EXISTS '$MYSQL_USER'@'127.0.0.1' IDENTIFIED BY '$MYSQL_PASS';
    CREATE USER IF NOT EXISTS '$MYSQL_USER'@'localhost' IDENTIFIED BY '$MYSQL_PASS';
    GRANT ALL PRIVILEGES ON \`$MYSQL_DB\`.* TO '$MYSQL_USER'@'127.0.0.1';
    GRANT ALL PRIVILEGES ON \`$MYSQL_DB\`.* TO '$MYSQL_USER'@'localhost';
    FLUSH PRIVILEGES;"
  log "mariadb running on 127.0.0.1:$MYSQL_PORT (database $MYSQL_DB, user $MYSQL_USER)"
}

stop_redis() { stop_pidfile "$REDIS_PID" redis; }
stop_mysql() { stop_pidfile "$MYSQL_PID" mariadb; }

print_env() {
  cat <<EOF
REDIS_HOST=127.0.0.1
REDIS_PORT=$REDIS_PORT
MYSQL_HOST=127.0.0.1
MYSQL_PORT=$MYSQL_PORT
MYSQL_USER=$MYSQL_USER
MYSQL_PASSWORD=$MYSQL_PASS
MYSQL_DATABASE=$MYSQL_DB
EOF
}

cmd="${1:-}"
case "$cmd" in
  start)
    ensure_installed
    start_redis
    start_mysql
    ;;
  stop)
    stop_redis
    stop_mysql
    ;;
  start-redis) ensure_installed; start_redis ;;
  stop-redis) stop_redis ;;
  start-mysql) ensure_installed; start_mysql ;;
  stop-mysql) stop_mysql ;;
  status)
    if pid_alive "$REDIS_PID"; then echo "redis: running (pid $(cat "$REDIS_PID"), port $REDIS_PORT)"; else echo "redis: stopped"; fi
    if pid_alive "$MYSQL_PID"; then echo "mariadb: running (pid $(cat "$MYSQL_PID"), port $MYSQL_PORT)"; else echo "mariadb: stopped"; fi
    ;;
  env) print_env ;;
  *)
    echo "usage: $0 start|stop|status|env|start-redis|stop-redis|start-mysql|stop-mysql" >&2
    exit 2
    ;;
esac
