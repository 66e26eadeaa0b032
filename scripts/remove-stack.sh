#!/usr/bin/env bash
# remove-stack.sh STACK [--forget] - destroy a stack of this project and remove it, whatever state
# it was left in; a stack that does not exist is not an error, a backend that cannot be read (a
# login expired, a wrong URL) is: it exits 1 without touching anything. The votes' volumes are protected
# (data.protect): on a throwaway stack they are unprotected first, so the destroy can finish.
# --forget: the stack's cluster is already gone, so nothing can be destroyed: remove the stack and
# its state without touching any resource (`pulumi stack rm --force`).
# Uses the `pulumi` on PATH and its backend (PULUMI_BACKEND_URL / PULUMI_ACCESS_TOKEN).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

stack="${1:?usage: remove-stack.sh STACK [--forget]}"
# The backend's answer decides "no such stack"; a failure to get one is never taken for it.
if ! listed="$(pulumi stack ls --json --non-interactive 2>&1)"; then
  echo "remove-stack: cannot read the backend's stacks, nothing removed or forgotten: $listed" >&2
  exit 1
fi
found=0
printf '%s' "$listed" | node -e '
  let text = "";
  process.stdin.on("data", (d) => (text += d)).on("end", () => {
    let stacks;
    try { stacks = JSON.parse(text); } catch { process.exit(2); }
    const name = process.argv[1];
    process.exit(stacks.some((s) => s.name === name || s.name.endsWith("/" + name)) ? 0 : 1);
  });' "$stack" || found=$?
case "$found" in
  0) ;;
  1) echo "remove-stack: no stack $stack: nothing to remove"; exit 0 ;;
  *) echo "remove-stack: the backend's list of stacks is not JSON, nothing removed or forgotten: $listed" >&2; exit 1 ;;
esac
pulumi stack select "$stack" --non-interactive >/dev/null
if [ "${2:-}" = "--forget" ]; then
  pulumi stack rm --force --yes --stack "$stack" --non-interactive
  echo "remove-stack: $stack removed (its resources were already gone)"
  exit 0
fi
pulumi state unprotect --all --yes --stack "$stack" --non-interactive
pulumi destroy --yes --skip-preview --stack "$stack" --non-interactive
pulumi stack rm --yes --stack "$stack" --non-interactive
echo "remove-stack: $stack destroyed and removed"
