#!/usr/bin/env bash
# bootstrap-pulumi.sh - build the Pulumi engine and plugins the e2e needs from
# Go modules (Go module proxy only; no Pulumi service, no GitHub downloads).
#
# Usage:
#   scripts/bootstrap-pulumi.sh         build (or reuse) the binaries, print the bin dir
#   scripts/bootstrap-pulumi.sh env     print the `export ...` lines callers need
#                                       (eval "$(scripts/bootstrap-pulumi.sh env)")
#
# Output: <repo>/.tools/bin (git-ignored through .tools/.gitignore):
#   pulumi                      Pulumi CLI v3.276.0 = @pulumi/pulumi 3.276.0
#                               (github.com/pulumi/pulumi/pkg/v3, tools/pulumi-cli)
#   pulumi-resource-kubernetes  the upstream Kubernetes provider, at the newest version
#                               the module proxy serves: the provider/v4 pseudo-version of
#                               commit f47bc2d6f199 (v4.25.0 + 1 commit, 2026-01-15). The
#                               proxy has no v4.34.2 provider module (the version the npm
#                               package asks for), so the engine warns about the version.
#                               (tools/pulumi-kubernetes)
#
# Not built, because the module proxy serves no version of them:
#   pulumi-language-nodejs      (github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3)
#                               The e2e therefore runs the program as an Automation API
#                               inline program: the SDK's own language server, in-process,
#                               serves index.ts to the engine; no host binary is needed.
#   pulumi-resource-random      (github.com/pulumi/pulumi-random/provider/v4)
#                               The e2e gives the MySQL passwords as secret config, so the
#                               program registers no random resource or provider.
#
# How the CLI finds the plugins: by $PATH ("ambient" plugins). Put .tools/bin first
# on PATH and leave PULUMI_IGNORE_AMBIENT_PLUGINS unset. Ambient plugins are used
# whatever version the SDK asks for (@pulumi/kubernetes 4.34.2 asks for 4.34.2 and
# gets the binary above). Expected, harmless warnings in every preview/up:
#   warning: using pulumi-resource-<name> from $PATH at <repo>/.tools/bin/...
#   warning: resource plugin kubernetes is expected to have version >=4.34.2, but
#            has 4.25.1-dev...; the wrong version may be on your path, ...
# The plugins are deliberately not put into the plugin cache under the versions
# the SDKs ask for: that would label the older Kubernetes provider as 4.34.2.
#
# Env vars callers need (what `env` prints):
#   PATH=<repo>/.tools/bin:$PATH
#   PULUMI_HOME=<repo>/.tools/pulumi-home     (keeps ~/.pulumi out of it)
#   PULUMI_SKIP_UPDATE_CHECK=true
#   PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true  (see below)
#   PULUMI_CONFIG_PASSPHRASE=...              (set by the caller, for file:// backends)
# and log in to a local backend: `pulumi login file://<dir>` (or PULUMI_BACKEND_URL).
#
# @pulumi/azure-native in node_modules: the language host reports every
# node_modules package with "pulumi": {"resource": true} as required, so the
# engine tries, best effort, to download azure-native 3.28.0 at the start of
# preview/up even if no azure resource is registered. Download failures there are
# ignored by the engine (logged only at -v=7), but they cost a network attempt;
# PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true skips the attempt. The
# provider is only ever started for a resource that uses it.
#
# Requirements: Go >= 1.25 (PATH or /usr/local/go; the CLI's module, like pkg/v3
# v3.276.0, says go 1.26.6, which an older go fetches through the module proxy
# unless GOTOOLCHAIN=local), node (to prepare the Kubernetes provider's embedded
# schema). Non-interactive; idempotent.
set -euo pipefail

# shellcheck source=scripts/lib-gobuild.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib-gobuild.sh"

PULUMI_VERSION="3.276.0"
K8S_PROVIDER_MODULE="github.com/pulumi/pulumi-kubernetes/provider/v4"
# Semver for the pseudo-version v4.0.0-20260115033456-f47bc2d6f199 (v4.25.0 + 1 commit).
K8S_PROVIDER_VERSION="4.25.1-dev.20260115033456+f47bc2d6f199"

print_env() {
  cat <<EOF
export PATH="$TOOLS_BIN:\$PATH"
export PULUMI_HOME="\${PULUMI_HOME:-$TOOLS_DIR/pulumi-home}"
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
unset PULUMI_IGNORE_AMBIENT_PLUGINS
EOF
}

# Write the two files the Kubernetes provider's main package embeds (upstream
# produces them with `go generate`; they are not in the published module).
prepare_k8s_provider_embeds() {
  local dir="$REPO_ROOT/tools/pulumi-kubernetes" moddir cmddir
  cmddir="$dir/cmd/pulumi-resource-kubernetes"
  moddir="$(cd "$dir" && go mod download "$K8S_PROVIDER_MODULE" && go list -m -f '{{.Dir}}' "$K8S_PROVIDER_MODULE")"
  [[ -f "$moddir/cmd/pulumi-resource-kubernetes/schema.json" ]] || die "no schema.json in $moddir"
  command -v node >/dev/null 2>&1 || die "node is needed to prepare the Kubernetes provider schema"
  node -e '
    const fs = require("fs");
    const [src, dst, map, mapDst, version] = process.argv.slice(1);
    const write = (f, s) => { if (!fs.existsSync(f) || fs.readFileSync(f, "utf8") !== s) fs.writeFileSync(f, s); };
    const schema = JSON.parse(fs.readFileSync(src, "utf8"));
    schema.version = version;
    write(dst, JSON.stringify(schema));
    write(mapDst, JSON.stringify(JSON.parse(fs.readFileSync(map, "utf8"))));
  ' "$moddir/cmd/pulumi-resource-kubernetes/schema.json" "$cmddir/schema-embed.json" \
    "$moddir/cmd/pulumi-resource-kubernetes/terraform-mapping.json" "$cmddir/terraform-mapping-embed.json" \
    "$K8S_PROVIDER_VERSION"
}

main() {
  case "${1:-build}" in
    env) print_env; return 0 ;;
    build) ;;
    *) die "usage: $0 [build|env]" ;;
  esac
  ensure_go
  ensure_tools_dir
  local t0=$SECONDS

  go_build_tool pulumi "$REPO_ROOT/tools/pulumi-cli" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
    "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" \
    "v$PULUMI_VERSION" {} version

  prepare_k8s_provider_embeds
  go_build_tool pulumi-resource-kubernetes "$REPO_ROOT/tools/pulumi-kubernetes" ./cmd/pulumi-resource-kubernetes \
    "-s -w -X $K8S_PROVIDER_MODULE/pkg/version.Version=$K8S_PROVIDER_VERSION" \
    "$K8S_PROVIDER_VERSION" grep -aoF -m1 "$K8S_PROVIDER_VERSION" {}

  log "all Pulumi tools ready in $((SECONDS - t0))s"
  printf '%s\n' "$TOOLS_BIN"
}

main "$@"
