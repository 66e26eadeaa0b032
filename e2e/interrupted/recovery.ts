/**
 * A scenario's recovery as the README gives it ("If `pulumi up` was interrupted": `pulumi cancel`,
 * `npm run adopt-pending-creates`, `pulumi refresh`, `pulumi up`): no pending operation, no create
 * of an object that exists, nothing replaced; then the stack converges to the stage (the walk's
 * checks after an up) with the same volumes, nothing deleted beyond the stage change, and the vote
 * carry's order held on the state the interruption left.
 */
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import { kubernetesId } from "../../cmd/adopt-pending-creates";
import { carryProblems } from "../../test/support/carry";
import { EngineStep } from "../engineSteps";
import { expectedChanges, inAppScope, log } from "../harness";
import { ROOT } from "../stackProgram";
import { InterruptedContext, ScenarioRun } from "./context";
import { changesApp } from "./scenarios";
import { asRun, completedJobsOnly, heldPendingCreates, label, pendingOf, urnsOutsideTheApp } from "./state";

/**
 * The README's recovery before its `pulumi up`, as users type it (the stack named). Its `pulumi up`
 * runs through the Automation API, as every up here: the rig has no language host for the CLI's own.
 */
const recoveryCommands = (stack: string) => [
    ["pulumi", "cancel", "--yes", "--stack", stack],
    ["npm", "run", "--silent", "adopt-pending-creates", "--", "--stack", stack],
    ["pulumi", "refresh", "--yes", "--skip-preview", "--stack", stack],
];

/** The recovery's test of a scenario, after its interruption's (and its controls'). */
export function recoveryTest(suite: InterruptedContext, run: ScenarioRun) {
    const { name } = run;
    const { from, to, interruption } = run.scenario;
    it(`${name}: recovery as the README says (pulumi cancel, npm run adopt-pending-creates, pulumi refresh, pulumi up): no pending operation, no create of an object that exists, then the stack converges to ${to} with the same volumes, and nothing else is deleted`, async () => {
        const { kube, checks, stack, api, timings } = suite;
        const { before, killedState, pending, firstEvents } = run;
        const [cancel, adopt, refresh] = recoveryCommands(stack!.name);
        const t = Date.now();
        const runCommand = (command: string[]) => {
            const result = spawnSync(command[0], command.slice(1), {
                cwd: ROOT,
                env: stack!.commandEnv(),
                encoding: "utf8",
            });
            assert.equal(result.status, 0, `${command.join(" ")}:\n${result.stdout}${result.stderr}`);
            return result.stdout;
        };
        if (interruption !== "kube-apiserver restarted half-way") runCommand(cancel);
        const adopted = runCommand(adopt);
        const creates = pending.filter((p) => p.type === "creating");
        // Each Kubernetes object the killed run began to create is in the state, with its ID.
        const ids = new Map((stack!.exportState().deployment.resources ?? []).map((r: any) => [r.urn, r.id] as const));
        for (const p of creates.filter((c) => c.resource.custom && c.resource.type.startsWith("kubernetes:"))) {
            const id = kubernetesId(p.resource);
            assert.ok("id" in id, `${p.resource.urn}: ${JSON.stringify(id)}`);
            assert.equal(ids.get(p.resource.urn), id.id, `${p.resource.urn} adopted:\n${adopted}`);
        }
        const adoptedState = stack!.exportState();
        assert.deepEqual(pendingOf(adoptedState), [], "pending operations after adopt-pending-creates");
        runCommand(refresh);
        const refreshed = stack!.exportState();
        assert.deepEqual(pendingOf(refreshed), [], "pending operations after pulumi refresh");
        // Each adopted object is in the state exactly when the cluster holds it.
        const inState = new Set((refreshed.deployment.resources ?? []).map((r: any) => r.urn));
        const held = new Set(await heldPendingCreates(kube, pending));
        for (const p of creates)
            assert.equal(inState.has(p.resource.urn), held.has(label(p.resource)), `${p.resource.urn} in the state`);
        timings.push(`${name}: cancel, adopt, refresh ${Date.now() - t} ms`);

        // What the walk checks before an up: no create of an object that exists, nothing replaced.
        const planned = await stack!.preview();
        await checks.checkPlanSafe(planned);

        const u = Date.now();
        const outputs = await stack!.up((line) => log(line));
        timings.push(`${name}: recovery up ${Date.now() - u} ms`);
        await checks.checkAfterUp(`${name}, recovered`, to, 0, outputs);
        assert.deepEqual(pendingOf(stack!.exportState()), [], "pending operations after the recovery up");

        // Nothing deleted but what the stage change deletes: by the interrupted run, by the
        // recovery, in the app (the engine's events) and outside it (the state's URNs).
        const deletes = (events: EngineStep[]) =>
            events
                .filter((e) => e.phase === "start" && e.op === "delete")
                .map((e) => `${e.label}${inAppScope(e) ? "" : ` (${e.urn})`}`);
        const allowed = new Set(expectedChanges(from, to, api).delete);
        const unexpected = [...deletes(firstEvents), ...deletes(stack!.lastUp)].filter((d) => !allowed.has(d));
        assert.deepEqual(
            unexpected,
            [],
            `deleted beyond ${from} -> ${to} (a zero-resource up would delete every unprotected resource); the recovery up's events:\n${stack!.lastUp.map((e) => `${e.phase} ${e.op} ${e.label}`).join("\n")}`,
        );
        assert.deepEqual(
            urnsOutsideTheApp(stack!.exportState()),
            before!.outside,
            "the state outside the app namespace",
        );

        // The vote carry's order, on the state the interruption left (the unit suite's rules).
        const deleting = firstEvents.some((e) => e.op === "delete" && changesApp(e));
        assert.deepEqual(
            carryProblems(asRun(before!.objects), asRun(await checks.liveObjects()), {
                description: `${name}, interrupted`,
                objects: completedJobsOnly(killedState),
                deleting,
            }),
            [],
            `${name}: the vote carry on the interrupted state`,
        );
    });
}
