/**
 * The ephemeral AKS clean-up cannot lie (.github/ephemeral-aks-cleanup.sh): run as the workflow runs
 * it, with the real scripts/remove-stack.sh, against a stand-in `az` and a stand-in `pulumi` first
 * on PATH, each recording its calls. Its decisions:
 *   - the group and the cluster exist: kubeconfig fetched, the stack destroyed and removed through
 *     it, then the group deleted;
 *   - no group, or no cluster in it: the stack forgotten (`pulumi stack rm --force`, nothing
 *     destroyed), the group deleted only if it exists;
 *   - an `az` that fails, answers nothing (an expired login) or answers something else: exit
 *     non-zero with a message, and nothing more removed or forgotten.
 * Control case: the script as it was before (test/fixtures/cleanup/lenient-cleanup.sh) is run through
 * the same checks, which must catch it forgetting a stack after a failed `az`.
 */
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const ROOT = path.resolve(__dirname, "..");
const CLEANUP = path.join(ROOT, ".github", "ephemeral-aks-cleanup.sh");
const LENIENT = path.join(ROOT, "test", "fixtures", "cleanup", "lenient-cleanup.sh");
const PR = "42";
const GROUP = `aks-istio-canary-pr-${PR}`;
const STACK = `pr-${PR}`;

/**
 * A stand-in `az`: `group exists` and `aks list` give the next of the comma-separated answers in
 * AZ_GROUP_EXISTS / AZ_AKS_LIST (the last one again when they run out): `error` fails as an expired
 * login does, `empty` succeeds with nothing on stdout, anything else is printed. The rest succeed.
 */
const FAKE_AZ = `#!/usr/bin/env bash
printf 'az %s\\n' "$*" >>"$FAKE_LOG"
case "$1 $2" in
  "group exists") answers=$AZ_GROUP_EXISTS; counter=group-exists ;;
  "aks list") answers=$AZ_AKS_LIST; counter=aks-list ;;
  *) exit 0 ;;
esac
n=$(cat "$FAKE_STATE/$counter" 2>/dev/null || echo 0)
echo $((n + 1)) >"$FAKE_STATE/$counter"
IFS=, read -ra list <<<"$answers"
if [ "$n" -lt "\${#list[@]}" ]; then answer=\${list[$n]}; else answer=\${list[-1]}; fi
case "$answer" in
  error) echo "ERROR: AADSTS700024: Client assertion is not within its valid time range." >&2; exit 1 ;;
  empty) exit 0 ;;
  *) echo "$answer" ;;
esac
`;

/** A stand-in `pulumi`: the stack pr-$PR exists unless PULUMI_STACK=absent; every command succeeds. */
const FAKE_PULUMI = `#!/usr/bin/env bash
printf 'pulumi %s\\n' "$*" >>"$FAKE_LOG"
if [ "\${PULUMI_STACK:-exists}" = unreadable ]; then echo "error: PULUMI_ACCESS_TOKEN is expired" >&2; exit 255; fi
if [ "$1 $2" = "stack ls" ]; then
  if [ "\${PULUMI_STACK:-exists}" = absent ]; then echo '[]'; else echo "[{\\"name\\": \\"pr-$PR\\"}]"; fi
  exit 0
fi
if [ "$1 $2" = "stack select" ] && [ "\${PULUMI_STACK:-exists}" = absent ]; then
  echo "error: no stack named '$3' found" >&2; exit 255
fi
exit 0
`;

interface Azure {
    /** Answers to `az group exists`, in order: true, false, error, empty, or anything else. */
    groupExists: string[];
    /** Answers to `az aks list --query length(...)`: 1, 0, error, empty... */
    aksList?: string[];
    pulumiStack?: "exists" | "absent" | "unreadable";
}

interface Run {
    status: number | null;
    out: string;
    /** Each call of az or pulumi, in order. */
    calls: string[];
    runnerTemp: string;
}

/** Runs a clean-up script as .github/ephemeral-aks-cleanup.sh, beside a copy of scripts/remove-stack.sh, with the stand-ins first on PATH. */
function runCleanup(script: string, azure: Azure): Run {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "aks-cleanup-"));
    try {
        for (const d of ["repo/.github", "repo/scripts", "bin", "state", "runner-temp"])
            fs.mkdirSync(path.join(tmp, d), { recursive: true });
        fs.copyFileSync(script, path.join(tmp, "repo/.github/ephemeral-aks-cleanup.sh"));
        fs.copyFileSync(path.join(ROOT, "scripts/remove-stack.sh"), path.join(tmp, "repo/scripts/remove-stack.sh"));
        fs.writeFileSync(path.join(tmp, "bin/az"), FAKE_AZ, { mode: 0o755 });
        fs.writeFileSync(path.join(tmp, "bin/pulumi"), FAKE_PULUMI, { mode: 0o755 });
        const log = path.join(tmp, "calls");
        const runnerTemp = path.join(tmp, "runner-temp");
        const r = spawnSync("bash", [path.join(tmp, "repo/.github/ephemeral-aks-cleanup.sh")], {
            encoding: "utf8",
            env: {
                ...process.env,
                PATH: `${path.join(tmp, "bin")}:${process.env.PATH}`,
                PR,
                RUNNER_TEMP: runnerTemp,
                FAKE_LOG: log,
                FAKE_STATE: path.join(tmp, "state"),
                AZ_GROUP_EXISTS: azure.groupExists.join(","),
                AZ_AKS_LIST: (azure.aksList ?? ["error"]).join(","),
                PULUMI_STACK: azure.pulumiStack ?? "exists",
            },
        });
        const calls = fs.existsSync(log) ? fs.readFileSync(log, "utf8").split("\n").filter(Boolean) : [];
        return { status: r.status, out: r.stdout + r.stderr, calls, runnerTemp };
    } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
    }
}

// What a run did, in words the contract uses.
const destroyed = (r: Run) => r.calls.some((c) => /^pulumi destroy .*--stack pr-42\b/.test(c));
const forgotten = (r: Run) => r.calls.some((c) => /^pulumi stack rm .*--force/.test(c));
const removed = (r: Run) => r.calls.some((c) => /^pulumi stack rm /.test(c));
const groupDeleted = (r: Run) => r.calls.includes(`az group delete --name ${GROUP} --yes`);
const pulumiCalled = (r: Run) => r.calls.some((c) => c.startsWith("pulumi "));

/** How a run breaks the contract when `az` could not say whether the group or cluster exists. */
function lies(r: Run): string[] {
    const problems: string[] = [];
    if (r.status === 0) problems.push("exit 0 although az could not answer");
    if (pulumiCalled(r)) problems.push(`the stack touched: ${r.calls.filter((c) => c.startsWith("pulumi"))}`);
    if (forgotten(r)) problems.push("the stack forgotten");
    if (groupDeleted(r)) problems.push("the group deleted");
    if (r.status !== 0 && !/ephemeral-aks-cleanup: .*failed|answered/.test(r.out))
        problems.push(`no clear message: ${r.out}`);
    return problems;
}

describe("the ephemeral AKS clean-up (.github/ephemeral-aks-cleanup.sh) against a stand-in az and pulumi", () => {
    it("group and cluster there: kubeconfig, stack destroyed and removed through it, then the group deleted", () => {
        const r = runCleanup(CLEANUP, { groupExists: ["true", "true"], aksList: ["1"] });
        assert.equal(r.status, 0, r.out);
        const azCalls = r.calls.filter((c) => c.startsWith("az "));
        assert.deepEqual(azCalls, [
            `az group exists --name ${GROUP} -o tsv`,
            `az aks list --resource-group ${GROUP} --query length([?name=='${STACK}']) -o tsv`,
            `az aks get-credentials --resource-group ${GROUP} --name ${STACK} --file ${r.runnerTemp}/kubeconfig --overwrite-existing`,
            `az group exists --name ${GROUP} -o tsv`,
            `az group delete --name ${GROUP} --yes`,
        ]);
        assert.ok(destroyed(r) && removed(r) && !forgotten(r), r.calls.join("\n"));
        const order = (re: RegExp) => r.calls.findIndex((c) => re.test(c));
        assert.ok(order(/^az aks get-credentials/) < order(/^pulumi destroy/), "kubeconfig before the destroy");
        assert.ok(order(/^pulumi stack rm/) < order(/^az group delete/), "the stack gone before its cluster");
    });

    it("no group: the stack forgotten (nothing destroyed), no group deleted, exit 0", () => {
        const r = runCleanup(CLEANUP, { groupExists: ["false", "false"] });
        assert.equal(r.status, 0, r.out);
        assert.ok(forgotten(r) && !destroyed(r) && !groupDeleted(r), r.calls.join("\n"));
        assert.ok(!r.calls.some((c) => c.startsWith("az aks")), "no question about a cluster in no group");
        assert.match(r.out, /no resource group aks-istio-canary-pr-42/);
    });

    it("a group without the cluster (its creation failed): the stack forgotten, the group deleted", () => {
        const r = runCleanup(CLEANUP, { groupExists: ["true", "true"], aksList: ["0"] });
        assert.equal(r.status, 0, r.out);
        assert.ok(forgotten(r) && !destroyed(r) && groupDeleted(r), r.calls.join("\n"));
    });

    it("no stack in the backend and no group: nothing to do, exit 0", () => {
        const r = runCleanup(CLEANUP, { groupExists: ["false"], pulumiStack: "absent" });
        assert.equal(r.status, 0, r.out);
        assert.ok(!removed(r) && !groupDeleted(r), r.calls.join("\n"));
    });

    it("a backend that cannot be read (an expired Pulumi token): exit non-zero, the stack not forgotten, the group not deleted", () => {
        const r = runCleanup(CLEANUP, { groupExists: ["false", "true"], pulumiStack: "unreadable" });
        assert.notEqual(r.status, 0, r.out);
        assert.match(r.out, /cannot read the backend's stacks/);
        assert.ok(!removed(r) && !groupDeleted(r), r.calls.join("\n"));
    });

    const unanswered: [string, Azure][] = [
        ["`az group exists` fails (an expired login)", { groupExists: ["error"] }],
        ["`az group exists` answers nothing", { groupExists: ["empty"] }],
        ["`az group exists` answers something else", { groupExists: ["True"] }],
        ["the group exists and `az aks list` fails", { groupExists: ["true"], aksList: ["error"] }],
        ["the group exists and `az aks list` answers nothing", { groupExists: ["true"], aksList: ["empty"] }],
    ];
    for (const [what, azure] of unanswered)
        it(`${what}: exit non-zero with a message, the stack neither destroyed nor forgotten, the group kept`, () => {
            const r = runCleanup(CLEANUP, azure);
            assert.deepEqual(lies(r), [], `${r.out}\n${r.calls.join("\n")}`);
            assert.ok(r.calls.length > 0, "the stand-in az was asked");
        });

    it("the stack destroyed, then `az group exists` fails: exit non-zero, the group not deleted blind", () => {
        const r = runCleanup(CLEANUP, { groupExists: ["true", "error"], aksList: ["1"] });
        assert.notEqual(r.status, 0, r.out);
        assert.ok(destroyed(r) && !groupDeleted(r), r.calls.join("\n"));
        assert.match(r.out, /does resource group aks-istio-canary-pr-42 still exist: `az group exists .*` failed/);
    });

    describe("control: the clean-up as it was before (test/fixtures/cleanup/lenient-cleanup.sh) is caught", () => {
        it("it still runs against the stand-ins and does the same when Azure answers", () => {
            const r = runCleanup(LENIENT, { groupExists: ["false", "false"] });
            assert.equal(r.status, 0, r.out);
            assert.ok(forgotten(r) && !groupDeleted(r));
        });
        for (const [what, azure] of unanswered.slice(0, 2))
            it(`${what}: it forgets the stack and exits 0, and the checks above say so`, () => {
                const problems = lies(runCleanup(LENIENT, azure));
                assert.ok(problems.includes("exit 0 although az could not answer"), problems.join("; "));
                assert.ok(problems.includes("the stack forgotten"), problems.join("; "));
            });
    });
});
