/**
 * Every `pulumi up` between adjacent stages, forward and back: what it creates, updates and
 * deletes, and (make before break) that no state the cluster passes through refuses a request.
 */
import { strict as assert } from "assert";
import { ProgramRun } from "../mock/runProgram";
import { STAGE_NAMES } from "../stages/model";
import { followUserRequest, describe as show } from "./support/mesh";
import { expectStorageClientsServed } from "./support/checks";
import { FORWARD } from "./support/expected";
import { clusterOfObjects, runStage } from "./support/runs";
import { diff, Step } from "../mock/changes";
import { intermediateStates, ROUTING_KINDS } from "./support/transitions";

const COOKIES = [
    undefined,
    "featureflag=on",
    "session=1; featureflag=on",
    "featureflag=off",
    // The sticky weighted canary's cookies (test/sticky.test.ts): each state must serve them too.
    "voting-canary=2.0-w30",
    "voting-canary=1.0-w30",
    "session=1; voting-canary=2.0-w10",
    "voting-canary=1.0-w90; featureflag=on",
];

function summary(steps: Step[]) {
    const of = (kind: string) =>
        steps
            .filter((s) => s.kind === kind)
            .map((s) => s.label)
            .sort();
    return { create: of("create"), update: of("update"), delete: of("delete") };
}

const pairs = STAGE_NAMES.slice(1).map((to, i) => [STAGE_NAMES[i], to] as const);
const transitions = [...pairs, ...pairs.map(([a, b]) => [b, a] as const)];

describe("transitions between adjacent stages", () => {
    for (const [from, to] of pairs) {
        it(`${from} -> ${to} creates, updates and deletes what the stage table implies`, async () => {
            assert.deepEqual(summary(diff(await runStage(from), await runStage(to))), FORWARD[`${from}->${to}`]);
        });
        it(`${to} -> ${from} (rollback) is the exact inverse`, async () => {
            const f = FORWARD[`${from}->${to}`];
            assert.deepEqual(summary(diff(await runStage(to), await runStage(from))), {
                create: f.delete,
                update: f.update,
                delete: f.create,
            });
        });
    }

    it("no stage change touches the cluster, the registry or images, Istio, the namespace, the Gateway or the passwords", async () => {
        for (const [from, to] of transitions) {
            const changed = diff(await runStage(from), await runStage(to))
                .filter((s) => s.kind !== "same")
                .map((s) => s.label);
            for (const label of changed) {
                assert.doesNotMatch(
                    label,
                    /ManagedCluster|ResourceGroup|Registry|RoleAssignment|Image\/|Release|Namespace|Gateway\/|RandomPassword|Provider|AksCluster|IstioMesh/,
                    `${from} -> ${to} changes ${label}`,
                );
            }
        }
    });

    it("nothing is replaced: updates never change an object's identity or a Deployment's selector", async () => {
        for (const [from, to] of transitions) {
            for (const step of diff(await runStage(from), await runStage(to)).filter((s) => s.kind === "update")) {
                const [a, b] = [step.before!.inputs, step.after!.inputs];
                assert.deepEqual(
                    [b.apiVersion, b.kind, b.metadata?.name, b.metadata?.namespace],
                    [a.apiVersion, a.kind, a.metadata?.name, a.metadata?.namespace],
                    step.label,
                );
                if (b.kind === "Deployment") assert.deepEqual(b.spec.selector, a.spec.selector, step.label);
            }
        }
    });

    it("no stage change creates, deletes or updates a volume (a claim still in the cluster is never created again)", async () => {
        for (const [from, to] of transitions) {
            const touched = diff(await runStage(from), await runStage(to)).filter(
                (s) => s.kind !== "same" && s.label.startsWith("PersistentVolumeClaim/"),
            );
            assert.deepEqual(
                touched.map((s) => `${s.kind} ${s.label}`),
                [],
                `${from} -> ${to}`,
            );
        }
    });
});

describe("make before break: no request is refused at any point of a stage change", () => {
    const check = async (from: ProgramRun, to: ProgramRun, name: string, gateway = "istio-ingressgateway") => {
        const states = intermediateStates(from, to, (s) => ROUTING_KINDS.test(s.label));
        assert.ok(states.length >= 2, `${name}: ${states.length} states`);
        for (const state of states) {
            const cluster = clusterOfObjects(state.objects, gateway);
            expectStorageClientsServed(cluster, `${name}, ${state.description}`);
            for (const cookie of COOKIES) {
                const outcomes = followUserRequest(cluster, cookie);
                const refused = outcomes.filter((o) => o.error);
                assert.deepEqual(refused, [], `${name}, ${state.description}, cookie ${cookie}: ${show(outcomes)}`);
                for (const o of outcomes) {
                    const chains = new Set(Object.values(o.path).map((v) => v[0]));
                    assert.equal(chains.size, 1, `${name}, ${state.description}: chains cross: ${show([o])}`);
                }
            }
        }
        return states.length;
    };

    for (const [from, to] of transitions) {
        it(`${from} -> ${to}`, async () => {
            await check(await runStage(from), await runStage(to), `${from} -> ${to}`);
        });
    }

    it("also with a weighted canary (lockdown -> canary 30% -> finalize, and back)", async () => {
        const weighted = await runStage("canary", { canaryWeight: "30" });
        await check(await runStage("lockdown"), weighted, "lockdown -> canary(30)");
        await check(weighted, await runStage("finalize"), "canary(30) -> finalize");
        await check(await runStage("finalize"), weighted, "finalize -> canary(30)");
        await check(weighted, await runStage("lockdown"), "canary(30) -> lockdown");
        const raised = await runStage("canary", { canaryWeight: "60" });
        await check(weighted, raised, "canary(30) -> canary(60)");
        await check(raised, weighted, "canary(60) -> canary(30)");
        await check(raised, await runStage("canary", { canaryWeight: "0" }), "canary(60) -> canary(0)");
    });

    // A new stack (an ephemeral one, or the first `pulumi up`) creates everything at once. A
    // Deployment's create finishes only when its pods are ready, and the app's readiness checks
    // its store: every state must let each client that exists reach its store, or the first
    // `pulumi up` waits for pods that never become ready.
    for (const stage of STAGE_NAMES) {
        it(`(new stack) -> ${stage}: every client reaches its store as soon as it exists`, async () => {
            const empty: ProgramRun = { resources: [], outputs: {}, secretOutputs: [], warnings: [] };
            const states = intermediateStates(empty, await runStage(stage), (s) =>
                /^(Deployment|Service)\//.test(s.label),
            );
            assert.ok(states.length >= 2);
            for (const state of states) {
                expectStorageClientsServed(
                    clusterOfObjects(state.objects),
                    `(new stack) -> ${stage}, ${state.description}`,
                );
            }
        });
    }

    it("the check does fail when a VirtualService is applied before its subsets (no dependencies)", async () => {
        const [lockdown, canary] = [await runStage("lockdown"), await runStage("canary")];
        const careless: ProgramRun = {
            ...canary,
            resources: canary.resources.map((r) => (/VirtualService/.test(r.type) ? { ...r, dependencies: [] } : r)),
        };
        await assert.rejects(
            check(lockdown, careless, "careless lockdown -> canary"),
            /not defined by any DestinationRule|no pod serves/,
        );
    });
});
