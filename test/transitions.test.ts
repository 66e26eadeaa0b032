/**
 * Every `pulumi up` between adjacent stages, forward and back, in each traffic API: what it
 * creates, updates and deletes, and (make before break) that no state the cluster passes through
 * refuses a request or has a route naming a backend that does not exist (yet, or any more). Then
 * a switch of traffic API at one stage (istio <-> gateway-api), through every state it passes.
 */
import { strict as assert } from "assert";
import { ProgramRun, RegisteredResource } from "../mock/runProgram";
import { STAGE_NAMES } from "../stages/model";
import { TRAFFIC_APIS, TrafficApi } from "../stages/traffic/router";
import { Cluster, followUserRequest, describe as show, Outcome } from "./support/mesh";
import { expectPaths, expectRoutesComplete, expectStorageClientsServed } from "./support/checks";
import { EXPECTED, expectedSticky, forwardIn, inTrafficApi } from "./support/expected";
import { clusterOfObjects, runStageIn } from "./support/runs";
import { diff, Step } from "../mock/changes";
import { intermediateStates, ROUTING_KINDS } from "./support/transitions";
import { carryProblems } from "./support/carry";

/** The steps the make-before-break replay follows: routing, and the vote carry's Jobs (issue 20). */
const REPLAYED = (s: Step) => ROUTING_KINDS.test(s.label) || /^Job\//.test(s.label);
const isJob = (r: RegisteredResource) => r.type === "kubernetes:batch/v1:Job";

/** A run without its carry Job: the Job and every dependency on it gone (the carry skipped). */
function withoutCarry(run: ProgramRun): ProgramRun {
    const jobs = new Set(run.resources.filter(isJob).map((r) => r.urn));
    assert.ok(jobs.size > 0, "the run has a carry Job to remove");
    return {
        ...run,
        resources: run.resources
            .filter((r) => !jobs.has(r.urn))
            .map((r) => ({ ...r, dependencies: r.dependencies.filter((d) => !jobs.has(d)) })),
    };
}

/** A run whose resources matching `which` lose the dependencies `drop` picks. */
function dropDependencies(
    run: ProgramRun,
    which: (r: RegisteredResource) => boolean,
    drop: (dependency: RegisteredResource) => boolean,
): ProgramRun {
    const byUrn = new Map(run.resources.map((r) => [r.urn, r]));
    let dropped = 0;
    const resources = run.resources.map((r) => {
        if (!which(r)) return r;
        const kept = r.dependencies.filter((d) => !(byUrn.has(d) && drop(byUrn.get(d)!)));
        dropped += r.dependencies.length - kept.length;
        return { ...r, dependencies: kept };
    });
    assert.ok(dropped > 0, "a dependency was dropped");
    return { ...run, resources };
}

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

for (const api of TRAFFIC_APIS) {
    const suffix = api === "istio" ? "" : ` (traffic.api=${api})`;
    const at = (stage: string, extra: Record<string, string> = {}) => runStageIn(api, stage, extra);

    describe(`transitions between adjacent stages${suffix}`, () => {
        for (const [from, to] of pairs) {
            it(`${from} -> ${to} creates, updates and deletes what the stage table implies`, async () => {
                assert.deepEqual(summary(diff(await at(from), await at(to))), forwardIn(api, `${from}->${to}`));
            });
            it(`${to} -> ${from} (rollback) is the exact inverse`, async () => {
                const f = forwardIn(api, `${from}->${to}`);
                assert.deepEqual(summary(diff(await at(to), await at(from))), {
                    create: f.delete,
                    update: f.update,
                    delete: f.create,
                });
            });
        }

        it("no stage change touches the cluster, the registry or images, Istio, the namespace, the Gateway or the passwords", async () => {
            for (const [from, to] of transitions) {
                const changed = diff(await at(from), await at(to))
                    .filter((s) => s.kind !== "same")
                    .map((s) => s.label);
                for (const label of changed) {
                    assert.doesNotMatch(
                        label,
                        /ManagedCluster|ResourceGroup|Registry|RoleAssignment|Image\/|Release|Namespace|Gateway\/|Gateway\.gateway\.networking\.k8s\.io\/|GatewayApiCrds|CustomResourceDefinition|ValidatingAdmissionPolicy|RandomPassword|Provider|AksCluster|IstioMesh/,
                        `${from} -> ${to} changes ${label}`,
                    );
                }
            }
        });

        it("nothing is replaced: updates never change an object's identity or a Deployment's selector", async () => {
            for (const [from, to] of transitions) {
                for (const step of diff(await at(from), await at(to)).filter((s) => s.kind === "update")) {
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
                const touched = diff(await at(from), await at(to)).filter(
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

    describe(`make before break: no request is refused at any point of a stage change${suffix}`, () => {
        const check = async (
            from: ProgramRun,
            to: ProgramRun,
            name: string,
            gateway = "istio-ingressgateway",
            checks = { references: true, requests: true },
        ) => {
            const states = intermediateStates(from, to, REPLAYED);
            assert.ok(states.length >= 2, `${name}: ${states.length} states`);
            for (const state of states) {
                assert.deepEqual(carryProblems(from, to, state), [], `${name}, ${state.description}`);
                const cluster = clusterOfObjects(state.objects, gateway);
                if (checks.references) expectRoutesComplete(cluster, `${name}, ${state.description}`);
                if (!checks.requests) continue;
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
                await check(await at(from), await at(to), `${from} -> ${to}`);
            });
        }

        it("also with a weighted canary (lockdown -> canary 30% -> finalize, and back)", async () => {
            const weighted = await at("canary", { canaryWeight: "30" });
            await check(await at("lockdown"), weighted, "lockdown -> canary(30)");
            await check(weighted, await at("finalize"), "canary(30) -> finalize");
            await check(await at("finalize"), weighted, "finalize -> canary(30)");
            await check(weighted, await at("lockdown"), "canary(30) -> lockdown");
            const raised = await at("canary", { canaryWeight: "60" });
            await check(weighted, raised, "canary(30) -> canary(60)");
            await check(raised, weighted, "canary(60) -> canary(30)");
            await check(raised, await at("canary", { canaryWeight: "0" }), "canary(60) -> canary(0)");
        });

        // A new stack (an ephemeral one, or the first `pulumi up`) creates everything at once. A
        // Deployment's create finishes only when its pods are ready, and the app's readiness checks
        // its store: every state must let each client that exists reach its store, or the first
        // `pulumi up` waits for pods that never become ready.
        for (const stage of STAGE_NAMES) {
            it(`(new stack) -> ${stage}: every client reaches its store as soon as it exists`, async () => {
                const empty: ProgramRun = { resources: [], outputs: {}, secretOutputs: [], warnings: [] };
                const to = await at(stage);
                const states = intermediateStates(empty, to, (s) => /^(Deployment|Service|Job)\//.test(s.label));
                assert.ok(states.length >= 2);
                for (const state of states) {
                    assert.deepEqual(
                        carryProblems(empty, to, state),
                        [],
                        `(new stack) -> ${stage}, ${state.description}`,
                    );
                    expectStorageClientsServed(
                        clusterOfObjects(state.objects),
                        `(new stack) -> ${stage}, ${state.description}`,
                    );
                }
            });
        }

        describe("the vote carry's Jobs: control cases the same replay must catch", () => {
            const byName = (pattern: RegExp) => (r: RegisteredResource) => pattern.test(r.name);
            const mysqlClient = byName(/^voting-(app|analytics)-2-0$/);
            it("the seed skipped (lockdown -> canary without its Job): 2.0's clients run on an unseeded MySQL", async () => {
                await assert.rejects(
                    check(await at("lockdown"), withoutCarry(await at("canary")), "lockdown -> canary, no seed"),
                    /voting-(app|analytics)-2-0.* on MySQL before any carry from Redis completed/,
                );
            });
            it("2.0's clients not waiting for the seed Job", async () => {
                await assert.rejects(
                    check(
                        await at("lockdown"),
                        dropDependencies(await at("canary"), mysqlClient, isJob),
                        "lockdown -> canary, clients first",
                    ),
                    /on MySQL before any carry from Redis completed/,
                );
            });
            it("the seed Job not waiting for Redis (the rollback finalize -> canary, which starts Redis again)", async () => {
                await assert.rejects(
                    check(
                        await at("finalize"),
                        dropDependencies(await at("canary"), isJob, byName(/^voting-storage-1-0$/)),
                        "finalize -> canary, seed before Redis",
                    ),
                    /Job\/carry-votes-canary completed without Redis running/,
                );
            });
            it("the final carry skipped (canary -> finalize without its Job): Redis deleted with 1.x's latest votes", async () => {
                await assert.rejects(
                    check(await at("canary"), withoutCarry(await at("finalize")), "canary -> finalize, no carry"),
                    /Redis is deleted before a carry of this update completed/,
                );
            });
            it("the final carry not waiting for the routes: users still reach 1.x after it", async () => {
                await assert.rejects(
                    check(
                        await at("canary"),
                        dropDependencies(
                            await at("finalize"),
                            isJob,
                            (d) => /VirtualService|HTTPRoute/.test(d.type) || /HTTPRoute/.test(d.inputs?.kind ?? ""),
                        ),
                        "canary -> finalize, carry before the routes",
                    ),
                    /still reach app 1\.0 after Job\/carry-votes-finalize completed/,
                );
            });
        });

        if (api === "istio")
            it("the check does fail when a VirtualService is applied before its subsets (no dependencies)", async () => {
                const [lockdown, canary] = [await at("lockdown"), await at("canary")];
                const careless: ProgramRun = {
                    ...canary,
                    resources: canary.resources.map((r) =>
                        /VirtualService/.test(r.type) ? { ...r, dependencies: [] } : r,
                    ),
                };
                await assert.rejects(
                    check(lockdown, careless, "careless lockdown -> canary"),
                    /not defined by any DestinationRule|no pod serves/,
                );
            });

        if (api === "gateway-api")
            it("the checks do fail when an HTTPRoute is applied before its Services and pods (no dependencies), forward and back", async () => {
                const careless = (run: ProgramRun): ProgramRun => ({
                    ...run,
                    resources: run.resources.map((r) => (/HTTPRoute/.test(r.type) ? { ...r, dependencies: [] } : r)),
                });
                const [lockdown, canary, finalize] = [await at("lockdown"), await at("canary"), await at("finalize")];
                // Into canary: the routes may move to voting-app-v2-0 and voting-analytics-v2-0 before they exist.
                await assert.rejects(
                    check(lockdown, careless(canary), "careless lockdown -> canary", undefined, {
                        references: true,
                        requests: false,
                    }),
                    /HTTPRoute voting-(app|analytics) names Service voting-(app|analytics)-v2-0, which does not exist/,
                );
                await assert.rejects(
                    check(lockdown, careless(canary), "careless lockdown -> canary", undefined, {
                        references: false,
                        requests: true,
                    }),
                    /REFUSED \(.*(which does not exist|no pod serves)/,
                );
                // Back from finalize: the same, to the 1.x Services the rollback creates.
                await assert.rejects(
                    check(finalize, careless(canary), "careless finalize -> canary"),
                    /names Service voting-(app|analytics)-v1-[01], which does not exist|no pod serves/,
                );
            });
    });
}

/**
 * Switching traffic.api at one stage (istio -> gateway-api and back; README: a planned
 * transition): one `pulumi up` creates the new API's objects (Gateway API's CRDs among them), then
 * deletes the old API's. Held through every state that `pulumi up` passes, with the same machinery
 * as a stage change (mock/changes.ts, intermediateStates):
 *  - each API's own objects are complete in every state: no route of either API names a Gateway,
 *    Service, port or subset that does not exist (yet, or any more), or a backend no pod serves;
 *  - every storage client reaches its own engine;
 *  - users' requests: where only one API routes a hop, the model follows it. Where a VirtualService
 *    and an HTTPRoute both route the same hop (the ingress, or calls to voting-analytics), the model
 *    does not know which Istio lets win (it does not invent a precedence between the two APIs):
 *    it follows the request under every choice of winner per hop, and each must serve the stage's
 *    own routes (the same on both sides of the switch). What Istio really does in those mixed
 *    states (and any interleaving of the two APIs' rules finer than per hop) is left to Istio's
 *    own config generator (tools/istio/routes).
 */
describe("switching traffic.api at one stage: istio <-> gateway-api, a planned transition", () => {
    const HOPS = ["ingress", "voting-analytics.voting.svc.cluster.local"];
    /** Every choice of which API wins each hop that both route. */
    const precedences: ((hop: string) => TrafficApi)[] = TRAFFIC_APIS.flatMap((ingress) =>
        TRAFFIC_APIS.map((mesh) => (hop: string) => (hop === HOPS[0] ? ingress : mesh)),
    );
    const cases: [string, Record<string, string>][] = [
        ...STAGE_NAMES.map((stage): [string, Record<string, string>] => [stage, {}]),
        ["canary", { canaryWeight: "30" }],
    ];
    const CRD_STEPS = /^(GatewayApiCrds|CustomResourceDefinition|ValidatingAdmissionPolicy(Binding)?)\//;

    /**
     * Every state of the step `from` -> `to` at one stage: each API's routes complete, every
     * storage client served, every user request served with the stage's routes under every choice
     * of winner where both APIs route a hop. Returns how many requests met such a mixed hop.
     */
    function replay(from: ProgramRun, to: ProgramRun, stage: string, weight: number, name: string): number {
        const states = intermediateStates(from, to, (step) => ROUTING_KINDS.test(step.label));
        let mixed = 0;
        for (const state of states) {
            const where = `${name}, ${state.description}`;
            const cluster: Cluster = clusterOfObjects(state.objects);
            expectRoutesComplete(cluster, where);
            expectStorageClientsServed(cluster, where);
            for (const cookie of COOKIES) {
                const undecided = followUserRequest(cluster, cookie).some((o: Outcome) => o.undecided);
                if (undecided) mixed++;
                for (const precedence of undecided ? precedences : [undefined]) {
                    const outcomes = followUserRequest({ ...cluster, precedence }, cookie);
                    const choice = precedence ? `, ${HOPS.map((h) => `${h} by ${precedence(h)}`).join(", ")}` : "";
                    expectPaths(
                        outcomes,
                        expectedSticky(stage, weight, cookie).chains,
                        `${where}${choice}, cookie ${cookie}: ${show(outcomes)}`,
                    );
                }
            }
        }
        return mixed;
    }

    for (const [stage, extra] of cases) {
        const weight = Number(extra.canaryWeight ?? 0);
        const title = `${stage}${weight ? ` at canaryWeight ${weight}` : ""}`;
        for (const [fromApi, toApi] of [
            ["istio", "gateway-api"],
            ["gateway-api", "istio"],
        ] as [TrafficApi, TrafficApi][]) {
            it(`${title}: ${fromApi} -> ${toApi}`, async () => {
                const [from, to] = [await runStageIn(fromApi, stage, extra), await runStageIn(toApi, stage, extra)];
                const name = `${title}: ${fromApi} -> ${toApi}`;

                // What the step does: the new API's objects created, the old API's deleted, nothing
                // updated, nothing else touched; Gateway API's CRDs only retained on the way back.
                const steps = diff(from, to).filter((s) => s.kind !== "same");
                const app = (api: TrafficApi) => new Set(inTrafficApi(api, EXPECTED[stage]));
                const only = (a: Set<string>, b: Set<string>) => [...a].filter((x) => !b.has(x)).sort();
                const s = summary(steps.filter((step) => !CRD_STEPS.test(step.label)));
                assert.deepEqual(s, {
                    create: only(app(toApi), app(fromApi)),
                    update: [],
                    delete: only(app(fromApi), app(toApi)),
                });
                const crdSteps = steps.filter((step) => CRD_STEPS.test(step.label));
                assert.ok(crdSteps.length > 0, "Gateway API's CRDs are part of the step");
                for (const step of crdSteps) {
                    assert.equal(step.kind, toApi === "gateway-api" ? "create" : "delete", step.label);
                    if (step.kind === "delete" && step.before!.custom)
                        assert.ok(step.before!.retainOnDelete, `${step.label} would be deleted from the cluster`);
                }

                const mixed = replay(from, to, stage, weight, name);
                // Both APIs route some hop in the states between (else nothing above was mixed).
                assert.ok(mixed > 0, `${name}: no state where both APIs route a hop`);
            });
        }
    }

    it("the checks do fail when the new API's routes do not wait for their backends (no dependencies), either way", async () => {
        const careless = (run: ProgramRun, type: RegExp): ProgramRun => ({
            ...run,
            resources: run.resources.map((r) => (type.test(r.type) ? { ...r, dependencies: [] } : r)),
        });
        const [istio, gatewayApi] = [await runStageIn("istio", "canary"), await runStageIn("gateway-api", "canary")];
        assert.throws(
            () => replay(istio, careless(gatewayApi, /HTTPRoute/), "canary", 0, "careless istio -> gateway-api"),
            /HTTPRoute voting-(app|analytics) names Service voting-(app|analytics)-v\d-\d, which does not exist/,
        );
        assert.throws(
            () => replay(gatewayApi, careless(istio, /VirtualService/), "canary", 0, "careless gateway-api -> istio"),
            /VirtualService voting-(app|analytics|storage): subset v\d-\d of .* is not defined by any DestinationRule/,
        );
    });

    it("where both APIs route a hop, each choice of winner is held to the stage's routes (a wrong HTTPRoute is caught even while the VirtualService still serves)", async () => {
        const [istio, gatewayApi] = [await runStageIn("istio", "canary"), await runStageIn("gateway-api", "canary")];
        // Gateway API's mesh route sends app 1.0 to analytics 2.0: wrong only where the HTTPRoute wins.
        const crossed: ProgramRun = {
            ...gatewayApi,
            resources: gatewayApi.resources.map((r) =>
                /HTTPRoute/.test(r.type) && r.name === "voting-analytics-httproute"
                    ? {
                          ...r,
                          inputs: {
                              ...r.inputs,
                              spec: {
                                  ...r.inputs.spec,
                                  rules: r.inputs.spec.rules.map((rule: any) => ({
                                      ...rule,
                                      backendRefs: [{ name: "voting-analytics-v2-0", port: 8080 }],
                                  })),
                              },
                          },
                      }
                    : r,
            ),
        };
        assert.throws(
            () => replay(istio, crossed, "canary", 0, "istio -> wrong gateway-api"),
            /voting-analytics\.voting\.svc\.cluster\.local by gateway-api/,
        );
    });
});
