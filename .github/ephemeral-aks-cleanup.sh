#!/usr/bin/env bash
# The ephemeral AKS stack of pull request $PR, gone: the walk's stack pr-$PR destroyed and removed
# (scripts/remove-stack.sh) while its cluster still exists, then the resource group holding the
# cluster and the registry deleted. Either may not exist (never created, or already cleaned up):
# that is not an error. What is an error: an `az` that fails, or answers anything but one of the
# answers asked for (an expired login answers nothing on stdout). Then it stops at once, exit 1,
# removing or forgetting nothing more: a stack is forgotten (`remove-stack.sh --forget`) only when
# Azure said its cluster is not there, and a group deleted only when Azure said it is.
# Needs `az` logged in (the workflow logs in again just before it), and PR and RUNNER_TEMP.
# test/cleanup.test.ts runs it against a stand-in `az` and `pulumi`.
set -euo pipefail
: "${PR:?PR must name the pull request}" "${RUNNER_TEMP:?}"
group="aks-istio-canary-pr-$PR"
cluster="pr-$PR"
remove_stack="$(dirname "${BASH_SOURCE[0]}")/../scripts/remove-stack.sh"

fail() {
  echo "ephemeral-aks-cleanup: $*" >&2
  echo "ephemeral-aks-cleanup: stopped: nothing more of stack $cluster or resource group $group removed or forgotten; log into Azure and run this again" >&2
  exit 1
}

# ask WHAT EXPECTED... -- AZ_ARGS...: sets `answer` to what `az AZ_ARGS... -o tsv` prints, which
# must be one of EXPECTED; an error of az, an empty answer or any other one stops the script.
answer=""
ask() {
  local what="$1" expected=() out rc=0 e
  shift
  while [[ "$1" != "--" ]]; do expected+=("$1"); shift; done
  shift
  out="$(az "$@" -o tsv)" || rc=$?
  [[ "$rc" -eq 0 ]] || fail "$what: \`az $*\` failed (exit $rc): is az logged in?"
  for e in "${expected[@]}"; do
    if [[ "$out" == "$e" ]]; then answer="$out"; return 0; fi
  done
  fail "$what: \`az $*\` answered '$out', not one of: ${expected[*]}"
}

cluster_exists=false
ask "does resource group $group exist" true false -- group exists --name "$group"
if [[ "$answer" == "true" ]]; then
  ask "is cluster $cluster in $group" 1 0 -- aks list --resource-group "$group" --query "length([?name=='$cluster'])"
  if [[ "$answer" == "1" ]]; then cluster_exists=true; fi
fi
if [[ "$cluster_exists" == "true" ]]; then
  # The stack reads the cluster from this kubeconfig path (its cluster.kubeconfig setting).
  az aks get-credentials --resource-group "$group" --name "$cluster" --file "$RUNNER_TEMP/kubeconfig" --overwrite-existing
  bash "$remove_stack" "$cluster"
else
  echo "ephemeral-aks-cleanup: Azure has no cluster $cluster: its stack is forgotten, if there is one"
  bash "$remove_stack" "$cluster" --forget
fi

ask "does resource group $group still exist" true false -- group exists --name "$group"
if [[ "$answer" == "true" ]]; then
  az group delete --name "$group" --yes
  echo "ephemeral-aks-cleanup: resource group $group deleted"
else
  echo "ephemeral-aks-cleanup: no resource group $group"
fi
