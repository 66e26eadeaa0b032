#!/usr/bin/env bash
# remove-stack.sh STACK [--forget] - destroy a stack of this project and remove it, whatever state
# it was left in; a stack that does not exist is not an error. The votes' volumes are protected
# (data.protect): on a throwaway stack they are unprotected first, so the destroy can finish.
# --forget: the stack's cluster is already gone, so nothing can be destroyed: remove the stack and
# its state without touching any resource (`pulumi stack rm --force`).
# Uses the `pulumi` on PATH and its backend (PULUMI_BACKEND_URL / PULUMI_ACCESS_TOKEN).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

stack="${1:?usage: remove-stack.sh STACK [--forget]}"
if ! pulumi stack select "$stack" --non-interactive >/dev/null 2>&1; then
  echo "remove-stack: no stack $stack: nothing to remove"
  exit 0
fi
if [ "${2:-}" = "--forget" ]; then
  pulumi stack rm --force --yes --stack "$stack" --non-interactive
  echo "remove-stack: $stack removed (its resources were already gone)"
  exit 0
fi
pulumi state unprotect --all --yes --stack "$stack" --non-interactive
pulumi destroy --yes --skip-preview --stack "$stack" --non-interactive
pulumi stack rm --yes --stack "$stack" --non-interactive
echo "remove-stack: $stack destroyed and removed"
