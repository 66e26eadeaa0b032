/**
 * A scenario's interruption and what it left (e2e/interrupted.e2e.ts): the up killed at its kill
 * point (EphemeralStack.upInterrupted), or kube-apiserver restarted half-way through it; then the
 * objects the API server holds route every request to a complete chain of either stage, the votes'
 * volumes are the same, and (after a kill) the stack is locked. Records in the ScenarioRun what the
 * state and the cluster were before and after, for the controls and the recovery.
 */
import { strict as assert } from "assert";
import { log, target } from "../harness";
import { restartApiServer, resumeControlPlane } from "./apiServer";
import { InterruptedContext, ScenarioRun, setStage } from "./context";
import { checkRoutingBetween } from "./routing";
import { killPoint } from "./scenarios";
import { describePending, pendingOf, urnsOutsideTheApp } from "./state";

/** What the cluster and the state outside the app are before the scenario's up, for its recovery. */
async function recordBefore({ checks, stack }: InterruptedContext, run: ScenarioRun) {
    run.before = { objects: await checks.liveObjects(), outside: urnsOutsideTheApp(stack!.exportState()) };
}

/** kube-apiserver restarted half-way through the up: its test. */
export function apiServerRestartTest(suite: InterruptedContext, run: ScenarioRun) {
    const { name } = run;
    const { from, to } = run.scenario;
    it(`${name}: the up fails or goes through; the state the cluster holds routes every request, the volumes are the same`, async function () {
        const { checks, stack, api, timings, left } = suite;
        await setStage(suite, to);
        await recordBefore(suite, run);
        const at = killPoint("half-way", from, to, api);
        let restart: Promise<string> | undefined;
        const t = Date.now();
        const outcome = await stack!
            .up(
                (line) => log(line),
                (step) => {
                    // Only the throwaway control plane can be restarted: elsewhere the up goes uninterrupted.
                    if (target !== "apiserver" || restart || !at(step, stack!.lastUp)) return;
                    restart = restartApiServer();
                },
            )
            .then(
                () => "the up went through",
                (err: Error) => `the up failed: ${err.message.split("\n").find((l) => /error/i.test(l)) ?? ""}`,
            );
        run.firstEvents = stack!.lastUp;
        if (target !== "apiserver")
            process.stderr.write(`e2e: ${name}: no restart, the target is not the throwaway control plane\n`);
        else assert.ok(restart, "kube-apiserver was not restarted: the up ended before half-way");
        const restarted = (await restart) ?? "no restart";
        timings.push(`${name}: ${restarted}; ${outcome} after ${Date.now() - t} ms`);
        if (target === "apiserver") await resumeControlPlane(suite.kube);
        run.killedState = await checks.liveObjects();
        checkRoutingBetween(run.killedState, from, to, 0, `${name}, after the up`);
        assert.deepEqual(await checks.volumeUids(), Object.fromEntries(checks.uids), "the votes' volumes");
        run.pending = pendingOf(stack!.exportState());
        left.push(`${name}: ${outcome}; pending: ${describePending(run.pending)}`);
    });
}

/** The up killed at the scenario's kill point: its test. */
export function killedUpTest(suite: InterruptedContext, run: ScenarioRun) {
    const { name } = run;
    const { from, to, interruption } = run.scenario;
    it(`${name}: the state the cluster holds routes every request to a complete chain of either stage, the volumes are the same, and pulumi up is refused (the stack is locked)`, async () => {
        const { checks, stack, api, timings, left, repairs } = suite;
        await setStage(suite, to);
        await recordBefore(suite, run);
        const t = Date.now();
        const interrupted = await stack!.upInterrupted(killPoint(interruption, from, to, api), (line) => log(line));
        run.firstEvents = interrupted.events;
        assert.ok(
            interrupted.killed,
            `the up ended (${interrupted.exit}) before ${interruption}:\n${interrupted.output.slice(-3000)}`,
        );
        timings.push(`${name}: killed after ${Date.now() - t} ms (${interrupted.killedProcesses.join(", ")})`);

        run.killedState = await checks.liveObjects();
        checkRoutingBetween(run.killedState, from, to, 0, `${name}, killed`);
        // The local backend: a kill while it wrote the checkpoint leaves it unreadable until
        // its attributes file is removed (README, "If `pulumi up` was interrupted").
        const exported = stack!.cli(["stack", "export"]);
        if (exported.status !== 0) {
            assert.match(exported.stderr, /failed to load checkpoint: EOF/);
            const repaired = stack!.repairCheckpointAttributes();
            assert.ok(
                repaired,
                `pulumi stack export fails, and not for the checkpoint's attributes:\n${exported.stderr}`,
            );
            repairs.push(`${name}: ${repaired}`);
        }
        assert.deepEqual(await checks.volumeUids(), Object.fromEntries(checks.uids), "the votes' volumes");
        run.pending = pendingOf(stack!.exportState());
        // The engine announces a step before it records it as begun (OnResourceStepPre in
        // pkg/engine/update.go): a kill in between leaves nothing pending for that step.
        left.push(`${name}: pending ${describePending(run.pending)}`);

        // Control: the killed run's lock refuses the next up (nothing of it runs).
        let refused: Error | undefined;
        await stack!.stack.up().catch((err: Error) => (refused = err));
        assert.ok(refused, "pulumi up went through the killed run's lock");
        assert.match(refused.message, /currently locked|another update is currently in progress/i);
    });
}
