#!/usr/bin/env bash
# The ephemeral AKS stack of pull request $PR, gone: the walk's stack pr-$PR destroyed and removed
# (scripts/remove-stack.sh) while its cluster still exists, then the resource group holding the
# cluster and the registry deleted. Either may not exist (never created, or already cleaned up):
# that is not an error.
set -euo pipefail
: "${PR:?PR must name the pull request}" "${RUNNER_TEMP:?}"
group="aks-istio-canary-pr-$PR"
remove_stack="$(dirname "${BASH_SOURCE[0]}")/../scripts/remove-stack.sh"
if [ "$(az group exists --name "$group")" = "true" ] && az aks show --resource-group "$group" --name "pr-$PR" >/dev/null 2>&1; then
  # The stack reads the cluster from this kubeconfig path (its cluster.kubeconfig setting).
  az aks get-credentials --resource-group "$group" --name "pr-$PR" --file "$RUNNER_TEMP/kubeconfig" --overwrite-existing
  bash "$remove_stack" "pr-$PR"
else
  bash "$remove_stack" "pr-$PR" --forget
fi
if [ "$(az group exists --name "$group")" = "true" ]; then
  az group delete --name "$group" --yes
  echo "ephemeral-aks-cleanup: resource group $group deleted"
else
  echo "ephemeral-aks-cleanup: no resource group $group"
fi
