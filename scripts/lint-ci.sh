#!/usr/bin/env bash
# lint-ci.sh - shellcheck on every shell script in the repository, and actionlint, with its
# integration of shellcheck (so every `run:` script is checked too), on every GitHub Actions workflow.
#
# Usage:
#   scripts/lint-ci.sh [run]   build or reuse the tools, then lint (what `npm test` runs)
#   scripts/lint-ci.sh build   only build or reuse the tools
#
# Tools:
#   actionlint   built from the Go module github.com/rhysd/actionlint (tools/actionlint, version
#                from its go.mod) into <repo>/.tools/bin, reused while the module is unchanged
#   `shellcheck` Debian's shellcheck package: the one on PATH, else installed with apt-get
#                (as root, or through `sudo -n` when that needs no password)
#
# What is checked:
#   shell scripts  every file git tracks or would track (tracked, or untracked and not ignored)
#                  named *.sh or *.bash, or with no dot in its name and a sh/bash/dash/ksh
#                  shebang on its first line (.ci/run); run as `shellcheck -x` from the repo
#                  root, so the `source=scripts/...` directives are followed
#   workflows      .github/workflows/*.yml and *.yaml, when there are any; actionlint runs the
#                  same shellcheck binary on `run:` scripts; pyflakes is off (-pyflakes=), so
#                  the result does not depend on what else is installed
#
# Output: one line per check, "lint-ci: shellcheck <file>: ok|FAIL" or
# "lint-ci: actionlint <file>: ok|FAIL" (a failure's findings follow it, indented), then
# "lint-ci: N passed, M failed". Exits non-zero when any check fails.
set -euo pipefail

# shellcheck source=scripts/lib-gobuild.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib-gobuild.sh"

ACTIONLINT_MODULE_DIR="$REPO_ROOT/tools/actionlint"
ACTIONLINT_PKG="github.com/rhysd/actionlint/cmd/actionlint"
ACTIONLINT="$TOOLS_BIN/actionlint"

# The version actionlint reports is the one tools/actionlint/go.mod requires (so a bump there,
# e.g. by Dependabot, rebuilds it); go build of a dependency's package would report "(devel)".
actionlint_version() {
  local v
  v="$(awk '$1 == "github.com/rhysd/actionlint" { print $2; exit }' "$ACTIONLINT_MODULE_DIR/go.mod")"
  [[ -n "$v" ]] || die "tools/actionlint/go.mod requires no github.com/rhysd/actionlint"
  printf '%s\n' "$v"
}

ensure_cmd() { # ensure_cmd COMMAND DEBIAN_PACKAGE
  command -v "$1" >/dev/null 2>&1 && return 0
  command -v apt-get >/dev/null 2>&1 || die "$1 is missing, and there is no apt-get here: install $2 (Debian's package) yourself"
  if [[ "$(id -u)" != 0 ]] && ! sudo -n true >/dev/null 2>&1; then
    die "$1 is missing: install Debian's $2 package as root (apt-get install $2); this script is not root and has no password-less sudo to do it"
  fi
  if ! apt-cache show "$2" >/dev/null 2>&1; then apt_update_once; fi
  log "$1 is missing: apt-get install $2"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >&2 || {
    apt_update_once
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >&2
  }
  command -v "$1" >/dev/null 2>&1 || die "apt-get installed $2, but there is still no $1 on PATH"
}

build() {
  ensure_cmd shellcheck shellcheck
  log "shellcheck: $(shellcheck --version | sed -n 's/^version: //p') at $(command -v shellcheck)"
  ensure_go
  ensure_tools_dir
  local v
  v="$(actionlint_version)"
  go_build_tool actionlint "$ACTIONLINT_MODULE_DIR" "$ACTIONLINT_PKG" \
    "-s -w -X github.com/rhysd/actionlint.version=$v" "$v" {} -version
}

# Every shell script git tracks or would track, relative to the repo root, one per line.
shell_scripts() {
  local f first
  git -C "$REPO_ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1 \
    || die "$REPO_ROOT is not a git work tree: cannot tell which files are the repository's"
  while IFS= read -r -d '' f; do
    [[ -f "$REPO_ROOT/$f" && ! -L "$REPO_ROOT/$f" ]] || continue # deleted, but still in the index
    if [[ "$f" == *.sh || "$f" == *.bash ]]; then
      printf '%s\n' "$f"
    elif [[ "${f##*/}" != *.* ]]; then
      first=""
      IFS= read -r -n 100 first <"$REPO_ROOT/$f" 2>/dev/null || true
      if [[ "$first" =~ ^'#!'[[:space:]]*[^[:space:]]*/(env[[:space:]]+)?(ba|da|k)?sh([[:space:]]|$) ]]; then
        printf '%s\n' "$f"
      fi
    fi
  done < <(git -C "$REPO_ROOT" ls-files -z --cached --others --exclude-standard) | sort -u
}

passed=0 failed=0
result() { # result KIND FILE RC OUTPUT
  if [[ "$3" -eq 0 ]]; then
    passed=$((passed + 1))
    printf 'lint-ci: %s %s: ok\n' "$1" "$2"
  else
    failed=$((failed + 1))
    printf 'lint-ci: %s %s: FAIL\n' "$1" "$2"
    [[ -z "$4" ]] || printf '%s\n' "$4" | sed 's/^/    /'
  fi
}

run() {
  build
  cd "$REPO_ROOT"
  local f out rc shellcheck_bin
  shellcheck_bin="$(command -v shellcheck)"

  local list scripts=()
  list="$(shell_scripts)" # not in a process substitution: a failure here must stop the script
  [[ -z "$list" ]] || mapfile -t scripts <<<"$list"
  [[ ${#scripts[@]} -gt 0 ]] || log "shellcheck: no shell scripts found"
  for f in "${scripts[@]}"; do
    rc=0
    out="$("$shellcheck_bin" -x "$f" 2>&1)" || rc=$?
    result shellcheck "$f" "$rc" "$out"
  done

  local workflows=()
  shopt -s nullglob
  workflows=(.github/workflows/*.yml .github/workflows/*.yaml)
  shopt -u nullglob
  [[ ${#workflows[@]} -gt 0 ]] || log "actionlint: no workflows in .github/workflows, nothing to check"
  for f in "${workflows[@]}"; do
    rc=0
    out="$("$ACTIONLINT" -no-color -shellcheck "$shellcheck_bin" -pyflakes= "$f" 2>&1)" || rc=$?
    result actionlint "$f" "$rc" "$out"
  done

  printf 'lint-ci: %s passed, %s failed\n' "$passed" "$failed"
  [[ "$failed" -eq 0 ]]
}

case "${1:-run}" in
  build) build ;;
  run) run ;;
  *) die "usage: $0 [run|build]" ;;
esac
