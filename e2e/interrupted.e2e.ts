/**
 * An interrupted `pulumi up` converges with nothing lost (issue 19): the real engine, the real
 * program and a real API server, as in the walk (e2e/walk.e2e.ts), on a stack of this file's own.
 *
 * The stack moves lockdown -> canary -> finalize -> canary -> ... and every `pulumi up` of it is
 * interrupted: the `pulumi` CLI (and what it started) SIGKILLed after the update's first create,
 * half-way through its steps, or at its first delete, as a CI time limit or a cancelled job kills
 * it; or kube-apiserver SIGKILLed half-way and started again. After each interruption:
 *  - the objects the API server holds (a state between the two stages) route every request to a
 *    complete chain of either stage, never one that mixes 1.x and 2.0, with every route complete
 *    and every storage client on its own engine (the unit suite's expectations for every state of
 *    a stage change, test/transitions.test.ts), the votes' volumes are the same objects, and the
 *    vote carry's order holds (test/support/carry.ts, on the killed state);
 *  - controls: `pulumi up` is refused (the killed run's lock); after `pulumi cancel` alone, the next
 *    up plans to create again every object the killed run had begun to create and the API server
 *    stored, which Kubernetes provider 4.29 and later (users' 4.34.2) refuse with AlreadyExists;
 *    and `pulumi refresh --import-pending-creates <urn> <id>` or `--clear-pending-creates` (one
 *    interruption each) leave it so;
 *  - the recovery the README gives ("If `pulumi up` was interrupted": `pulumi cancel`, `npm run
 *    adopt-pending-creates`, `pulumi refresh`, `pulumi up`) leaves no pending operation, plans no
 *    create of an object that exists and nothing replaced, and converges: the stage's objects and
 *    no other, the same volumes, the routes (the walk's checks after an up), and nothing deleted
 *    that the stage change does not delete, by the killed run or the recovery, in the app or
 *    outside it.
 *
 * Environment: as the walk (KUBECONFIG, E2E_TARGET, E2E_PROGRAM, E2E_CONFIG, E2E_EXPECT_READY);
 * the kube-apiserver restart needs the apiserver target.
 */
import { strict as assert } from "assert";
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import { isDeepStrictEqual } from "util";
import { ProgramRun, RegisteredResource } from "../mock/runProgram";
import { expectRoutesComplete, expectStorageClientsServed } from "../test/support/checks";
import { carryProblems } from "../test/support/carry";
import { Chain, expectedSticky, FLAG, NO_FLAG, STICKY_COOKIES } from "../test/support/expected";
import { followUserRequest, describe as show } from "../test/support/mesh";
import { clusterOfObjects } from "../test/support/runs";
import { kubernetesId } from "../cmd/adopt-pending-creates";
import { until } from "./clusterSetup";
import { EngineStep, EphemeralStack, InterruptedUp, KillPoint, ROOT } from "./ephemeralStack";
import {
    AppChecks,
    appChecks,
    ClusterEnvironment,
    createsOfExistingObjects,
    expectedChanges,
    gatewayName,
    gatewayNamespace,
    inAppScope,
    kubeconfig,
    log,
    prepareCluster,
    SECRETS,
    target,
} from "./harness";
import { KubeClient, KubeObject } from "./kube";
import { StageName } from "../stages/model";
import { APP_NAMESPACE, PROJECT } from "../stages/names";
import type { TrafficApi } from "../stages/traffic/router";

type Interruption = "after its first create" | "half-way" | "at its first delete" | "kube-apiserver restarted half-way";

interface Scenario {
    from: StageName;
    to: StageName;
    interruption: Interruption;
    /** A wrong recovery tried on this scenario's killed state first (then the state is put back). */
    control?: "--import-pending-creates" | "--clear-pending-creates";
}

/**
 * The stack's moves, each interrupted, each starting where the one before converged. Lockdown ->
 * canary has no delete; canary -> finalize creates only its carry Job, so its pending creates are
 * few and its interruptions fall among its updates and deletes.
 */
const SCENARIOS: Scenario[] = [
    { from: "lockdown", to: "canary", interruption: "after its first create", control: "--import-pending-creates" },
    { from: "canary", to: "finalize", interruption: "after its first create" },
    { from: "finalize", to: "canary", interruption: "after its first create", control: "--clear-pending-creates" },
    { from: "canary", to: "finalize", interruption: "half-way" },
    { from: "finalize", to: "canary", interruption: "half-way" },
    { from: "canary", to: "finalize", interruption: "at its first delete" },
    { from: "finalize", to: "canary", interruption: "at its first delete" },
    { from: "canary", to: "lockdown", interruption: "kube-apiserver restarted half-way" },
    { from: "lockdown", to: "canary", interruption: "half-way" },
];

const PROGRAM = process.env.E2E_PROGRAM === "inline" ? "inline" : "local";
const CHANGING = ["create", "update", "delete"];

/**
 * The README's recovery before its `pulumi up`, as users type it (the stack named). Its `pulumi up`
 * runs through the Automation API, as every up here: the rig has no language host for the CLI's own.
 */
const recoveryCommands = (stack: string) => [
    ["pulumi", "cancel", "--yes", "--stack", stack],
    ["npm", "run", "--silent", "adopt-pending-creates", "--", "--stack", stack],
    ["pulumi", "refresh", "--yes", "--skip-preview", "--stack", stack],
];

/** A step of the app (its namespace) that changes something: a create, an update or a delete. */
const changesApp = (e: EngineStep) => CHANGING.includes(e.op) && inAppScope(e);

/** Where to interrupt the up from -> to, from the stage table's count of its steps. */
function killPoint(interruption: Interruption, from: StageName, to: StageName, api: TrafficApi): KillPoint {
    const expected = expectedChanges(from, to, api);
    const steps = expected.create.length + expected.update.length + expected.delete.length;
    if (interruption === "after its first create")
        return (e) => e.phase === "done" && e.op === "create" && changesApp(e);
    if (interruption === "at its first delete") return (e) => e.phase === "start" && e.op === "delete" && changesApp(e);
    return (_e, events) => events.filter((x) => x.phase === "done" && changesApp(x)).length >= Math.ceil(steps / 2);
}

/**
 * Routing on a state between two stages, request by request: each request a user can make is
 * served (none refused) by a complete chain of the stage before or of the stage after, whose
 * versions never mix 1.x and 2.0 (test/transitions.test.ts); every route of either API complete;
 * every storage client on its own engine.
 */
function checkRoutingBetween(objects: KubeObject[], from: StageName, to: StageName, weight: number, what: string) {
    const cluster = clusterOfObjects(objects, gatewayName, gatewayNamespace);
    expectRoutesComplete(cluster, `${what}: routes naming what does not exist`);
    expectStorageClientsServed(cluster, `${what}, on the stored objects`);
    for (const cookie of [undefined, ...NO_FLAG, ...FLAG, ...STICKY_COOKIES]) {
        const outcomes = followUserRequest(cluster, cookie);
        const context = `${what}, cookie ${cookie}: ${show(outcomes)}`;
        assert.deepEqual(
            outcomes.filter((o) => o.error),
            [],
            `refused: ${context}`,
        );
        const either: Chain[] = [
            ...expectedSticky(from, weight, cookie).chains,
            ...expectedSticky(to, weight, cookie).chains,
        ].map(([chain]) => chain);
        for (const o of outcomes) {
            const chains = new Set(Object.values(o.path).map((v) => v[0]));
            assert.equal(chains.size, 1, `${context}: chains cross`);
            assert.ok(
                either.some((c) => isDeepStrictEqual(c, o.path)),
                `${context}: ${JSON.stringify(o.path)} is a chain of neither ${from} nor ${to}`,
            );
        }
    }
}

/** Objects read back from the cluster as a program run of them (for the unit suite's carry rules). */
function asRun(objects: KubeObject[]): ProgramRun {
    const resources = objects.map(
        (o) =>
            ({
                urn: `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`,
                type: `kubernetes:${o.apiVersion.includes("/") ? o.apiVersion : `core/${o.apiVersion}`}:${o.kind}`,
                name: o.metadata.name,
                custom: true,
                inputs: o,
                secretInputs: [],
                parent: "",
                provider: "",
                dependencies: [],
                protect: false,
                retainOnDelete: false,
                deleteBeforeReplace: false,
                ignoreChanges: [],
                read: false,
                id: "",
            }) as RegisteredResource,
    );
    return { resources, outputs: {}, secretOutputs: [], warnings: [] };
}

/** A Job counts as there once it completed: the engine's create of a Job ends with its completion. */
const completedJobsOnly = (objects: KubeObject[]) =>
    objects.filter(
        (o) =>
            o.kind !== "Job" ||
            (o.status?.conditions ?? []).some((c: any) => c.type === "Complete" && c.status === "True"),
    );

/** The URNs of a state's resources outside the app's namespace (Istio, the providers, the stack). */
function urnsOutsideTheApp(state: { deployment: any }): string[] {
    return (state.deployment.resources ?? [])
        .filter((r: any) => !(r.inputs?.metadata?.namespace === APP_NAMESPACE))
        .map((r: any) => r.urn)
        .sort();
}

const pendingOf = (state: { deployment: any }): { type: string; resource: any }[] =>
    state.deployment.pending_operations ?? [];

describe(`an interrupted pulumi up converges with nothing lost (${target})`, function () {
    this.timeout(30 * 60 * 1000);
    let kube: KubeClient;
    let env: ClusterEnvironment | undefined;
    let checks: AppChecks;
    let stack: EphemeralStack | undefined;
    const api: TrafficApi = "istio";
    const timings: string[] = [];
    /** Per interruption: what the killed run left pending, and how many of its creates the API server holds. */
    const left: string[] = [];
    let createsOfHeldObjects = 0;
    /** The checkpoint attributes files a kill left broken (the local backend), and their repair. */
    const repairs: string[] = [];

    before(async function () {
        assert.ok(kubeconfig, "KUBECONFIG must name the target cluster's kubeconfig");
        kube = KubeClient.fromKubeconfig(kubeconfig, process.env.E2E_CONTEXT);
        // The walk's stack was destroyed just before: its namespaces must be gone, not terminating.
        await until("the namespaces of an earlier stack to be gone", 180, async () => {
            const namespaces = await kube.list("Namespace");
            const app = namespaces.some((n) => n.metadata.name === APP_NAMESPACE);
            return app || namespaces.some((n) => n.metadata.deletionTimestamp) ? undefined : true;
        });
        env = await prepareCluster(kube, timings);
        checks = appChecks(kube, { settings: env.settings, api: () => api, istiod: env.istiod });
        env.settings["traffic.api"] = api;
        stack = await EphemeralStack.create({ program: PROGRAM });
        await stack.configure(env.settings, SECRETS);
    });

    after(async function () {
        this.timeout(10 * 60 * 1000);
        const t = Date.now();
        if (target === "apiserver") await resumeControlPlane().catch(() => undefined);
        if (stack) await stack.dispose((line) => log(line));
        timings.push(`clean-up (unprotect, destroy, stack rm) ${Date.now() - t} ms`);
        await env?.stop();
        process.stderr.write(
            `e2e interruptions:\n  ${[...left, ...repairs].join("\n  ")}\ne2e interrupted-up timings:\n  ${timings.join("\n  ")}\n`,
        );
    });

    /** Every process of the throwaway control plane running, kube-apiserver answering. */
    async function resumeControlPlane() {
        const resumed = spawnSync("bash", ["scripts/kube-apiserver.sh", "resume"], { cwd: ROOT, encoding: "utf8" });
        assert.equal(resumed.status, 0, resumed.stderr);
        await until("kube-apiserver to answer", 60, async () =>
            (await kube.list("Node").catch(() => undefined)) ? true : undefined,
        );
    }

    /** The stack's settings for an up to `stage`, as `pulumi config set stage` does. */
    const setStage = (stage: StageName) => stack!.stack.setConfig(`${PROJECT}:stage`, { value: stage });

    it("a new stack's first pulumi up, at lockdown (Istio installed with it when in the loop)", async () => {
        await setStage("lockdown");
        const t = Date.now();
        const outputs = await stack!.up((line) => log(line));
        timings.push(`up (new stack) -> lockdown ${Date.now() - t} ms`);
        await checks.checkAfterUp("(new stack) -> lockdown", "lockdown", 0, outputs);
        assert.equal(checks.uids.size, 2, "the votes' two volumes are recorded");
    });

    SCENARIOS.forEach((scenario, i) => {
        const { from, to, interruption } = scenario;
        const name = `${i + 1}. ${from} -> ${to}, ${interruption.startsWith("kube") ? interruption : `the engine killed ${interruption}`}`;
        /** What the cluster and the state were before the up, what the interruption left. */
        let before: { objects: KubeObject[]; outside: string[] };
        let interrupted: InterruptedUp | undefined;
        let killedState: KubeObject[] = [];
        let pending: { type: string; resource: any }[] = [];
        /** The interrupted up's events (the killed run's, or the up kube-apiserver's restart hit). */
        let firstEvents: EngineStep[] = [];

        if (interruption === "kube-apiserver restarted half-way") {
            it(`${name}: the up fails or goes through; the state the cluster holds routes every request, the volumes are the same`, async function () {
                await setStage(to);
                before = { objects: await checks.liveObjects(), outside: urnsOutsideTheApp(stack!.exportState()) };
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
                firstEvents = stack!.lastUp;
                if (target !== "apiserver")
                    process.stderr.write(`e2e: ${name}: no restart, the target is not the throwaway control plane\n`);
                else assert.ok(restart, "kube-apiserver was not restarted: the up ended before half-way");
                const restarted = (await restart) ?? "no restart";
                timings.push(`${name}: ${restarted}; ${outcome} after ${Date.now() - t} ms`);
                if (target === "apiserver") await resumeControlPlane();
                killedState = await checks.liveObjects();
                checkRoutingBetween(killedState, from, to, 0, `${name}, after the up`);
                assert.deepEqual(await checks.volumeUids(), Object.fromEntries(checks.uids), "the votes' volumes");
                pending = pendingOf(stack!.exportState());
                left.push(
                    `${name}: ${outcome}; pending: ${pending.map((p) => `${p.type} ${label(p.resource)}`).join(", ") || "none"}`,
                );
            });
        } else {
            it(`${name}: the state the cluster holds routes every request to a complete chain of either stage, the volumes are the same, and pulumi up is refused (the stack is locked)`, async () => {
                await setStage(to);
                before = { objects: await checks.liveObjects(), outside: urnsOutsideTheApp(stack!.exportState()) };
                const t = Date.now();
                interrupted = await stack!.upInterrupted(killPoint(interruption, from, to, api), (line) => log(line));
                firstEvents = interrupted.events;
                assert.ok(
                    interrupted.killed,
                    `the up ended (${interrupted.exit}) before ${interruption}:\n${interrupted.output.slice(-3000)}`,
                );
                timings.push(`${name}: killed after ${Date.now() - t} ms (${interrupted.killedProcesses.join(", ")})`);

                killedState = await checks.liveObjects();
                checkRoutingBetween(killedState, from, to, 0, `${name}, killed`);
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
                pending = pendingOf(stack!.exportState());
                // The engine announces a step before it records it as begun (OnResourceStepPre in
                // pkg/engine/update.go): a kill in between leaves nothing pending for that step.
                left.push(
                    `${name}: pending ${pending.map((p) => `${p.type} ${label(p.resource)}`).join(", ") || "none"}`,
                );

                // Control: the killed run's lock refuses the next up (nothing of it runs).
                let refused: Error | undefined;
                await stack!.stack.up().catch((err: Error) => (refused = err));
                assert.ok(refused, "pulumi up went through the killed run's lock");
                assert.match(refused.message, /currently locked|another update is currently in progress/i);
            });

            it(`${name}: control: after pulumi cancel alone, the next up would create again each object the killed run made (AlreadyExists from Kubernetes provider 4.29 on)${scenario.control ? `, and so it would after pulumi refresh ${scenario.control}` : ""}`, async function () {
                const cancel = stack!.cli(["cancel", "--yes"]);
                assert.equal(cancel.status, 0, cancel.stderr);
                const held = await heldPendingCreates(pending);
                createsOfHeldObjects += held.length;
                const collide = async () =>
                    (await createsOfExistingObjects(kube, await stack!.preview())).map((c) => c.split(" ")[1]).sort();
                assert.deepEqual(await collide(), held, "the planned creates of objects the cluster holds");
                if (!scenario.control) return;

                const checkpoint = stack!.checkpointFile();
                if (!checkpoint) {
                    process.stderr.write(
                        `e2e: skipped the ${scenario.control} control: the stack's backend is not its own\n`,
                    );
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
                                  return [
                                      `--import-pending-creates=${p.resource.urn}`,
                                      `--import-pending-creates=${id.id}`,
                                  ];
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

        it(`${name}: recovery as the README says (pulumi cancel, npm run adopt-pending-creates, pulumi refresh, pulumi up): no pending operation, no create of an object that exists, then the stack converges to ${to} with the same volumes, and nothing else is deleted`, async () => {
            const [cancel, adopt, refresh] = recoveryCommands(stack!.name);
            const t = Date.now();
            const run = (command: string[]) => {
                const result = spawnSync(command[0], command.slice(1), {
                    cwd: ROOT,
                    env: stack!.commandEnv(),
                    encoding: "utf8",
                });
                assert.equal(result.status, 0, `${command.join(" ")}:\n${result.stdout}${result.stderr}`);
                return result.stdout;
            };
            if (interruption !== "kube-apiserver restarted half-way") run(cancel);
            const adopted = run(adopt);
            const creates = pending.filter((p) => p.type === "creating");
            // Each Kubernetes object the killed run began to create is in the state, with its ID.
            const ids = new Map(
                (stack!.exportState().deployment.resources ?? []).map((r: any) => [r.urn, r.id] as const),
            );
            for (const p of creates.filter((c) => c.resource.custom && c.resource.type.startsWith("kubernetes:"))) {
                const id = kubernetesId(p.resource);
                assert.ok("id" in id, `${p.resource.urn}: ${JSON.stringify(id)}`);
                assert.equal(ids.get(p.resource.urn), id.id, `${p.resource.urn} adopted:\n${adopted}`);
            }
            const adoptedState = stack!.exportState();
            assert.deepEqual(pendingOf(adoptedState), [], "pending operations after adopt-pending-creates");
            run(refresh);
            const refreshed = stack!.exportState();
            assert.deepEqual(pendingOf(refreshed), [], "pending operations after pulumi refresh");
            // Each adopted object is in the state exactly when the cluster holds it.
            const inState = new Set((refreshed.deployment.resources ?? []).map((r: any) => r.urn));
            const held = new Set(await heldPendingCreates(pending));
            for (const p of creates)
                assert.equal(
                    inState.has(p.resource.urn),
                    held.has(label(p.resource)),
                    `${p.resource.urn} in the state`,
                );
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
                before.outside,
                "the state outside the app namespace",
            );

            // The vote carry's order, on the state the interruption left (the unit suite's rules).
            const deleting = firstEvents.some((e) => e.op === "delete" && changesApp(e));
            assert.deepEqual(
                carryProblems(asRun(before.objects), asRun(await checks.liveObjects()), {
                    description: `${name}, interrupted`,
                    objects: completedJobsOnly(killedState),
                    deleting,
                }),
                [],
                `${name}: the vote carry on the interrupted state`,
            );
        });
    });

    it("controls: at least one interruption left a pending create of an object the API server held (the create pulumi up alone would repeat)", () => {
        assert.ok(createsOfHeldObjects > 0, `no interruption did:\n${left.join("\n")}`);
    });

    /** The pending creates whose object the cluster holds, as Kind/name. */
    async function heldPendingCreates(ops: { type: string; resource: any }[]): Promise<string[]> {
        const held: string[] = [];
        for (const p of ops.filter((o) => o.type === "creating" && o.resource.inputs?.kind)) {
            if (await kube.exists(p.resource.inputs)) held.push(label(p.resource));
        }
        return held.sort();
    }

    /** kube-apiserver SIGKILLed, started again 3 s later (kube-apiserver.sh kill-apiserver, resume). */
    function restartApiServer(): Promise<string> {
        return new Promise((resolve, reject) => {
            const t = Date.now();
            const child = spawn(
                "bash",
                [
                    "-c",
                    "bash scripts/kube-apiserver.sh kill-apiserver && sleep 3 && bash scripts/kube-apiserver.sh resume",
                ],
                { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
            );
            let output = "";
            child.stdout.on("data", (d) => (output += d));
            child.stderr.on("data", (d) => (output += d));
            child.on("exit", (code) =>
                code === 0
                    ? resolve(`kube-apiserver killed and started again in ${Date.now() - t} ms`)
                    : reject(new Error(`kube-apiserver's restart failed (${code}):\n${output}`)),
            );
        });
    }
});

/** A resource of the state as Kind/name, as the harness labels objects. */
function label(resource: { type: string; urn: string; inputs?: any }): string {
    return resource.inputs?.kind && resource.inputs?.metadata?.name
        ? `${resource.inputs.kind}/${resource.inputs.metadata.name}`
        : `${resource.type.split(":").pop()}/${resource.urn.split("::").pop()}`;
}
