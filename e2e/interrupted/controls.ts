/**
 * A killed up's controls (e2e/interrupted.e2e.ts): after `pulumi cancel` alone, the next up plans
 * to create again each object the killed run had begun to create and the API server stored (which
 * Kubernetes provider 4.29 and later refuse with AlreadyExists); and, for the scenarios that name
 * one, so it does after `pulumi refresh --import-pending-creates` or `--clear-pending-creates`, on
 * the killed state, which is put back for the recovery.
 */
import { strict as assert } from "assert";
import * as fs from "fs";
import { kubernetesId } from "../../cmd/adopt-pending-creates";
import { createsOfExistingObjects } from "../harness";
import { InterruptedContext, ScenarioRun } from "./context";
import { heldPendingCreates, pendingOf } from "./state";

/** The controls' test of a killed up's scenario. */
export function cancelAloneControlTest(suite: InterruptedContext, run: ScenarioRun) {
    const { name, scenario } = run;
    it(`${name}: control: after pulumi cancel alone, the next up would create again each object the killed run made (AlreadyExists from Kubernetes provider 4.29 on)${scenario.control ? `, and so it would after pulumi refresh ${scenario.control}` : ""}`, async function () {
        const { kube, stack } = suite;
        const { pending } = run;
        const cancel = stack!.cli(["cancel", "--yes"]);
        assert.equal(cancel.status, 0, cancel.stderr);
        const held = await heldPendingCreates(kube, pending);
        suite.createsOfHeldObjects += held.length;
        const collide = async () =>
            (await createsOfExistingObjects(kube, await stack!.preview())).map((c) => c.split(" ")[1]).sort();
        assert.deepEqual(await collide(), held, "the planned creates of objects the cluster holds");
        if (!scenario.control) return;

        const checkpoint = stack!.checkpointFile();
        if (!checkpoint) {
            process.stderr.write(`e2e: skipped the ${scenario.control} control: the stack's backend is not its own\n`);
            return;
        }
        // The checkpoint and its attributes file beside it (the local backend's), as the kill left them.
        const saved = [checkpoint, `${checkpoint}.attrs`]
            .filter((f) => fs.existsSync(f))
            .map((f) => ({ file: f, bytes: fs.readFileSync(f) }));
        try {
            const creates = pending.filter((p) => p.type === "creating");
            const args =
                scenario.control === "--clear-pending-creates"
                    ? ["--clear-pending-creates"]
                    : creates.flatMap((p) => {
                          const id = kubernetesId(p.resource);
                          assert.ok("id" in id, `${p.resource.urn}: ${JSON.stringify(id)}`);
                          return [`--import-pending-creates=${p.resource.urn}`, `--import-pending-creates=${id.id}`];
                      });
            const refresh = stack!.cli(["refresh", "--yes", "--skip-preview", ...args]);
            assert.equal(refresh.status, 0, refresh.stdout + refresh.stderr);
            const state = stack!.exportState();
            const urns = new Set((state.deployment.resources ?? []).map((r: any) => r.urn));
            assert.deepEqual(
                pendingOf(state).filter((p) => p.type === "creating"),
                [],
                `${scenario.control}: pending creates left`,
            );
            assert.deepEqual(
                creates.filter((p) => urns.has(p.resource.urn)).map((p) => p.resource.urn),
                [],
                `${scenario.control} put a pending create into the state`,
            );
            assert.deepEqual(await collide(), held, `after pulumi refresh ${scenario.control}`);
        } finally {
            // The killed run's state back, pending operations and all, for the recovery.
            for (const { file, bytes } of saved) fs.writeFileSync(file, bytes);
        }
        assert.deepEqual(pendingOf(stack!.exportState()).length, pending.length, "the state put back");
    });
}
