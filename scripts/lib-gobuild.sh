# shellcheck shell=bash
# Shared helpers for scripts that build tools from Go modules into
# <repo>/.tools/bin (sourced by bootstrap-pulumi.sh and kube-apiserver.sh).
#
# Reuse rule: a binary is rebuilt unless it exists, its version check prints
# the expected version, and its stamp file (.tools/bin/.<name>.stamp: a hash of
# the tools module's files, the ldflags and `go version`) is unchanged.
# GOCACHE / GOMODCACHE are left at Go's defaults (~/.cache/go-build,
# ~/go/pkg/mod) so a fresh clone on the same machine rebuilds warm.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_DIR="$REPO_ROOT/.tools"
TOOLS_BIN="$TOOLS_DIR/bin"

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
die() { log "error: $*"; exit 1; }

ensure_tools_dir() {
  mkdir -p "$TOOLS_BIN"
  # .tools/ is build output: keep it out of git without touching .gitignore.
  [[ -f "$TOOLS_DIR/.gitignore" ]] || printf '*\n' >"$TOOLS_DIR/.gitignore"
}

ensure_go() {
  command -v go >/dev/null 2>&1 || { [[ -x /usr/local/go/bin/go ]] && export PATH="/usr/local/go/bin:$PATH"; }
  command -v go >/dev/null 2>&1 || die "Go is not installed (need go >= 1.26.6 on PATH or in /usr/local/go)"
  # go.sum of every tools module is committed: never touch it while building,
  # and never ask the checksum database (not all module versions are in it).
  export GOFLAGS="-mod=readonly -trimpath"
  export CGO_ENABLED=0
  export GOSUMDB="${GOSUMDB:-sum.golang.org}"
  export GONOSUMDB="${GONOSUMDB:-github.com/pulumi}"
}

# stamp_of <module dir> <extra...>: content hash of a tools module + build inputs.
stamp_of() {
  local dir="$1"; shift
  {
    (cd "$dir" && find . -type f \( -name '*.go' -o -name 'go.mod' -o -name 'go.sum' \) ! -name '*_test.go' -print0 \
      | sort -z | xargs -0 sha256sum)
    go version
    printf '%s\n' "$@"
  } | sha256sum | cut -d' ' -f1
}

# go_build_tool NAME MODULE_DIR PACKAGE LDFLAGS EXPECTED VERSION_CMD...
#   Builds PACKAGE (resolved inside MODULE_DIR) to $TOOLS_BIN/NAME unless the
#   existing binary's VERSION_CMD output contains EXPECTED and the stamp matches.
#   VERSION_CMD may use {} for the binary path. Prints the build time.
go_build_tool() {
  local name="$1" dir="$2" pkg="$3" ldflags="$4" expected="$5"; shift 5
  local out="$TOOLS_BIN/$name" stampfile="$TOOLS_BIN/.$name.stamp" stamp
  stamp="$(stamp_of "$dir" "$pkg" "$ldflags")"
  if [[ -x "$out" && -f "$stampfile" && "$(cat "$stampfile")" == "$stamp" ]]; then
    local got
    got="$("${@//\{\}/$out}" 2>&1 || true)"
    if [[ "$got" == *"$expected"* ]]; then
      log "$name: up to date ($expected), reused"
      return 0
    fi
    log "$name: version check printed '${got//$'\n'/ }', expected '$expected': rebuilding"
  fi
  log "$name: building $pkg ($expected)..."
  local start=$SECONDS
  (cd "$dir" && go build -ldflags "$ldflags" -o "$out.tmp" "$pkg") || die "$name: go build failed"
  mv -f "$out.tmp" "$out"
  printf '%s\n' "$stamp" >"$stampfile"
  local got
  got="$("${@//\{\}/$out}" 2>&1 || true)"
  [[ "$got" == *"$expected"* ]] || die "$name: built, but version check printed '$got', expected '$expected'"
  log "$name: built in $((SECONDS - start))s"
}


# --- Debian packages ------------------------------------------------------------

APT_UPDATED=""
as_root() {
  if [[ "$(id -u)" == 0 ]]; then "$@"; else sudo -n "$@"; fi
}
apt_update_once() {
  [[ -n "$APT_UPDATED" ]] && return 0
  log "apt-get update"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  APT_UPDATED=1
}

# unpack_debian_binary PACKAGE PATH NAME: the file PATH (e.g. usr/bin/etcd) of Debian's PACKAGE,
# fetched with `apt-get download` and unpacked with `dpkg-deb -x` into $TOOLS_BIN/NAME. Nothing is
# installed on the system and no service is started.
unpack_debian_binary() {
  local package="$1" file="$2" name="$3" tmp
  command -v apt-get >/dev/null 2>&1 || die "no apt-get to fetch Debian's $package"
  ensure_tools_dir
  tmp="$(mktemp -d)"
  chmod a+rwx "$tmp" # apt-get download runs as the _apt user
  if ! apt-cache show "$package" >/dev/null 2>&1; then apt_update_once; fi
  log "$name: apt-get download $package"
  (cd "$tmp" && apt-get download "$package" >&2) || {
    apt_update_once
    (cd "$tmp" && apt-get download "$package" >&2)
  }
  dpkg-deb -x "$tmp/${package}"_*.deb "$tmp/root"
  install -m 0755 "$tmp/root/$file" "$TOOLS_BIN/$name"
  rm -rf "$tmp"
}
