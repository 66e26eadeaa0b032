#!/usr/bin/env bash
# istio-charts.sh DIR - Istio's base, istiod and gateway charts, at the version the program
# installs by default (istio.version's default in Pulumi.yaml), pulled with `helm` from Istio's live
# chart repository into DIR (new or empty) and indexed there: a static Helm chart repository
# (index.yaml with relative URLs, and the .tgz files), the layout the end-to-end walk takes from
# E2E_ISTIO_CHARTS (it serves the folder on loopback and installs the version the index holds).
# On GitHub Actions ($GITHUB_ENV set) it also exports E2E_ISTIO_CHARTS=<DIR, absolute> to the job's
# later steps. Needs `helm` (v3 or v4) on PATH, and awk.
set -euo pipefail
REPO_URL="https://blob.istio.io/istio-release/charts"
CHARTS=(base istiod gateway)
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
die() { echo "istio-charts: $*" >&2; exit 1; }

dir="${1:?usage: istio-charts.sh DIR}"
# istio.version's default: the `default:` line of the `istio.version:` entry under `config:` (a
# plain or quoted scalar, with or without a trailing comment). test/workflows.test.ts holds this
# reading to the YAML parser's on the real Pulumi.yaml and on variants of it.
version="$(awk '
  /^[^[:space:]#]/ { in_config = ($0 ~ /^config:[[:space:]]*$/); key = ""; next }
  in_config && /^  [^[:space:]#]/ { key = $1; sub(/:$/, "", key); next }
  in_config && key == "istio.version" && /^    default:/ {
    v = $0
    sub(/^    default:[[:space:]]*/, "", v)
    sub(/[[:space:]]+#.*$/, "", v)
    sub(/[[:space:]]+$/, "", v)
    gsub(/^["\x27]|["\x27]$/, "", v)
    print v
    exit
  }
' "$root/Pulumi.yaml")"
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] \
  || die "no istio.version default (a version such as 1.31.4) in $root/Pulumi.yaml: read '$version'"

command -v helm >/dev/null 2>&1 || die "helm is not on PATH"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
[[ -z "$(ls -A "$dir")" ]] || die "$dir is not empty: give a new or empty folder"

echo "istio-charts: Istio $version's ${CHARTS[*]} charts from $REPO_URL into $dir"
for chart in "${CHARTS[@]}"; do
  helm pull "$chart" --repo "$REPO_URL" --version "$version" --destination "$dir"
done
# No --url: each chart's URL in index.yaml is its file name, relative to the index.
helm repo index "$dir"

# The contract, checked: one .tgz per chart at that version, and index.yaml naming exactly those
# files, by relative URLs (the walk serves the folder itself).
[[ -f "$dir/index.yaml" ]] || die "helm repo index wrote no $dir/index.yaml"
urls="$(awk '
  /^[[:space:]]*urls:[[:space:]]*$/ { in_urls = 1; next }
  in_urls && /^[[:space:]]*-[[:space:]]+[^[:space:]]+[[:space:]]*$/ && !/: / {
    u = $0; sub(/^[[:space:]]*-[[:space:]]+/, "", u); sub(/[[:space:]]+$/, "", u); print u; next
  }
  { in_urls = 0 }
' "$dir/index.yaml" | sort)"
expected="$(for chart in "${CHARTS[@]}"; do echo "$chart-$version.tgz"; done | sort)"
[[ "$urls" == "$expected" ]] || die "$dir/index.yaml lists the URLs [${urls//$'\n'/ }], not [${expected//$'\n'/ }]"
for chart in "${CHARTS[@]}"; do
  [[ -f "$dir/$chart-$version.tgz" ]] || die "no $dir/$chart-$version.tgz after helm pull"
done

if [[ -n "${GITHUB_ENV:-}" ]]; then
  echo "E2E_ISTIO_CHARTS=$dir" >>"$GITHUB_ENV"
  echo "istio-charts: E2E_ISTIO_CHARTS=$dir for the job's later steps"
fi
echo "istio-charts: $dir holds Istio $version's ${CHARTS[*]} charts and index.yaml"
