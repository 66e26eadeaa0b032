/**
 * scripts/remove-stack.sh, which the AKS workflow runs at the end of a walk and when a pull request
 * closes, with the real CLI on a throwaway file backend: a stack that does not exist is not an
 * error; a stack holding a protected resource (as the votes' volumes are) is unprotected, destroyed
 * and removed; with --forget, a stack whose resources are already gone is removed without them.
 */
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { LocalWorkspace } from "@pulumi/pulumi/automation";
import { ROOT } from "./stackProgram";
import { PROJECT } from "../stages/names";

describe("scripts/remove-stack.sh: a pull request's stack, gone whatever state it was left in", function () {
    const backend = fs.mkdtempSync(path.join(os.tmpdir(), "remove-stack-state-"));
    const env = {
        ...process.env,
        PULUMI_BACKEND_URL: `file://${backend}`,
        PULUMI_CONFIG_PASSPHRASE: "remove-stack-test",
        PULUMI_SKIP_UPDATE_CHECK: "true",
    };
    const removeStack = (...args: string[]) =>
        spawnSync("bash", ["scripts/remove-stack.sh", ...args], { cwd: ROOT, env, encoding: "utf8" });
    const stackWithProtectedResource = async (name: string) => {
        const stack = await LocalWorkspace.createStack(
            {
                stackName: name,
                projectName: PROJECT,
                program: async () => {
                    new pulumi.ComponentResource("e2e:test:Votes", "votes", {}, { protect: true });
                },
            },
            { workDir: ROOT, envVars: env as Record<string, string> },
        );
        assert.equal((await stack.up()).summary.result, "succeeded");
        return stack;
    };
    const stacks = async () =>
        (
            await LocalWorkspace.create({ workDir: ROOT, envVars: env as Record<string, string> }).then((w) =>
                w.listStacks(),
            )
        ).map((s) => s.name);
    after(() => fs.rmSync(backend, { recursive: true, force: true }));

    it("a stack that was never created: nothing to do, exit 0", () => {
        const result = removeStack("pr-never");
        assert.equal(result.status, 0, result.stderr);
        assert.match(result.stdout, /no stack pr-never: nothing to remove/);
    });

    it("a backend that cannot be read (an expired login, a wrong URL): exit 1, nothing taken for 'no stack'", () => {
        const result = spawnSync("bash", ["scripts/remove-stack.sh", "pr-unknown", "--forget"], {
            cwd: ROOT,
            env: { ...env, PULUMI_BACKEND_URL: "file:///dev/null/state" },
            encoding: "utf8",
        });
        assert.equal(result.status, 1, result.stdout + result.stderr);
        assert.match(result.stderr, /cannot read the backend's stacks, nothing removed or forgotten/);
        assert.doesNotMatch(result.stdout, /nothing to remove|removed/);
    });

    it("a stack with a protected resource: unprotected, destroyed, removed", async () => {
        await stackWithProtectedResource("pr-protected");
        const result = removeStack("pr-protected");
        assert.equal(result.status, 0, result.stdout + result.stderr);
        assert.match(result.stdout, /pr-protected destroyed and removed/);
        assert.ok(!(await stacks()).includes("pr-protected"));
        assert.ok(
            !fs.existsSync(path.join(ROOT, "Pulumi.pr-protected.yaml")),
            "the stack's settings file is left behind",
        );
    });

    it("--forget: the stack is removed without touching its resources", async () => {
        await stackWithProtectedResource("pr-forget");
        const result = removeStack("pr-forget", "--forget");
        assert.equal(result.status, 0, result.stdout + result.stderr);
        assert.ok(!(await stacks()).includes("pr-forget"));
    });
});
