/**
 * The real Pulumi engine runs the real program against a real Kubernetes API server.
 *
 * First, on a cluster where nothing is installed, the preview a new user's first `pulumi up` makes
 * (istio.install=true, Istio's charts from a Helm repository on loopback), in either traffic API.
 * Then one ephemeral stack walks every adjacent transition in both directions in Istio's API
 * (traffic.api=istio),
 *   deploy -> update -> lockdown -> canary -> finalize -> canary -> lockdown -> canary -> lockdown
 *   -> update -> deploy,
 * and at its first lockdown switches to Kubernetes Gateway API on the live stack, walks every
 * adjacent transition in both directions there (traffic.api=gateway-api),
 *   lockdown -> canary -> finalize -> canary -> lockdown -> update -> deploy -> update -> lockdown,
 * and switches back; at its first canary, weighted 30, it switches to Gateway API and back again.
 * Before each `up` it checks what the engine's preview plans (exactly the stage table's changes in
 * that API, or for a switch exactly the other API's objects created and this one's deleted; and
 * that no planned create names an object the cluster already holds: from Kubernetes provider 4.29
 * on, such a create fails), and after it what the cluster holds (objects present and absent, the
 * votes' volumes with the same UIDs all along, Gateway API's CRDs kept once installed, the storage
 * Service's endpoints per engine, routing evaluated request by request, and `render`'s YAML as the
 * API server itself decodes it). Last, `pulumi destroy` as users run it: refused for the votes while
 * they are protected, complete once they are not.
 *
 * With the apiserver target the program installs Istio itself from its charts, and a real istiod
 * on loopback validates every Istio object and injects every pod (e2e/istiod.ts); after each `up`,
 * `istioctl analyze` on the live namespace must be clean. Istio's charts send istiod's validation
 * webhook Istio's own groups only: Gateway API's objects are validated by the API server (their
 * CRDs' schemas and CEL rules), and istiod's gateway controller judges them in their status
 * (Accepted, Programmed, ResolvedRefs), which the walk reads after each `up` in Gateway API.
 *
 * Environment: KUBECONFIG (required); E2E_TARGET=apiserver (default: bare API server with kwok's
 * simulated pods, Istio installed by the program, no images pulled) or cluster (kind/AKS with nothing installed: the
 * program installs Istio; live checks through the ingress too); E2E_PROGRAM=local|inline;
 * E2E_CONFIG (JSON, extra stack settings); E2E_EXPECT_READY=1 when pods become ready;
 * E2E_INGRESS_URL (cluster target, gateway without a load-balancer address: where it is reachable);
 * E2E_STACK (the stack's name, e.g. a pull request's on a shared backend; default: a unique name).
 */
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { LocalWorkspace } from "@pulumi/pulumi/automation";
import { objectLabel } from "../mock/changes";
import { EXPECTED, inTrafficApi } from "../test/support/expected";
import { AppliedStep, carryOrderProblems } from "../test/support/carry";
import { CHARTS_ENV } from "../test/support/chartRepository";
import { analyzeLive, atLeastWarning, showMessages } from "../test/support/istioctl";
import { serveFolder, until } from "./clusterSetup";
import { EphemeralStack, PlannedStep, ROOT } from "./ephemeralStack";
import {
    appChecks,
    AppChecks,
    baseSettings,
    CHANNEL_LABELS,
    ClusterEnvironment,
    createsOfExistingObjects,
    expectedChanges,
    GATEWAY_API_GROUP,
    gatewayNamespace,
    inAppScope,
    installsGatewayApiCrds,
    ISTIO,
    kubeconfig,
    labelsOf,
    log,
    objectsInNamespace,
    prepareCluster,
    SECRETS,
    target,
    withoutIstio,
} from "./harness";
import { ISTIOD_PORTS, LoopbackIstiod, PILOT_DISCOVERY } from "./istiod";
import { KubeClient, KubeObject } from "./kube";
import { checkPlaintextRefused, checkStageThroughIngress } from "./live";
import { CanaryExporter, CanaryScenario, LoopbackPrometheus } from "./prometheus";
import { automationStack, prometheusQuery, promote } from "../cmd/promote";
import { FLAGGER_GATES } from "../stages/promotion";
import { StageName, STRICT_MTLS_STAGES } from "../stages/model";
import { APP_NAMESPACE, PROJECT, serviceHost, workloadName } from "../stages/names";
import type { TrafficApi } from "../stages/traffic/router";

/** Whose status istiod's gateway controller writes (Istio's GatewayClasses' controllerName). */
const ISTIO_GATEWAY_CONTROLLER = "istio.io/gateway-controller";

/**
 * Every adjacent transition, forward and back, and canary -> lockdown -> canary (the rollback that
 * brings MySQL's claim back) twice over: Istio's API.
 */
export const WALK = [
    "deploy",
    "update",
    "lockdown",
    "canary",
    "finalize",
    "canary",
    "lockdown",
    "canary",
    "lockdown",
    "update",
    "deploy",
] as const;

/**
 * Gateway API's walk, from lockdown (where the stack switches to it, and back after it): every
 * adjacent transition once each way. The second canary <-> lockdown round of WALK is about MySQL's
 * claim, which does not depend on the traffic API.
 */
export const GATEWAY_API_WALK = [
    "lockdown",
    "canary",
    "finalize",
    "canary",
    "lockdown",
    "update",
    "deploy",
    "update",
    "lockdown",
] as const;

/** Where the walk switches API on the live stack and back: at lockdown, and at the canary weighted 30. */
const SWITCH_WEIGHT = 30;

const ISTIO_KINDS = /^kubernetes:(networking|security)\.istio\.io\//;
/** A switch of traffic.api at one stage: the new API's objects created, the old one's deleted, nothing updated. */
function expectedSwitch(stage: string, from: TrafficApi, to: TrafficApi) {
    const before = objectsInNamespace(stage, from);
    const after = objectsInNamespace(stage, to);
    return {
        create: after.filter((l) => !before.includes(l)),
        update: [] as string[],
        delete: before.filter((l) => !after.includes(l)),
    };
}

/** A condition list's problems against the wanted statuses, at the object's current generation. */
function conditionProblems(
    what: string,
    conditions: any[] | undefined,
    generation: number,
    wanted: Record<string, "True" | "False">,
): string[] {
    return Object.entries(wanted).flatMap(([type, status]) => {
        const c = (conditions ?? []).find((x) => x.type === type);
        if (!c) return [`${what}: no ${type} condition`];
        if (c.observedGeneration !== undefined && c.observedGeneration !== generation)
            return [`${what}: ${type} is of generation ${c.observedGeneration}, the object's is ${generation}`];
        return c.status === status ? [] : [`${what}: ${type}=${c.status} (${c.reason}: ${c.message})`];
    });
}

/** Whether a route status's parentRef is the spec's (Gateway API's defaults filled in on both sides). */
function sameParent(a: any, b: any): boolean {
    const key = (r: any) =>
        JSON.stringify([
            r.group ?? GATEWAY_API_GROUP,
            r.kind ?? "Gateway",
            r.namespace ?? "",
            r.name,
            r.sectionName ?? "",
            r.port ?? 0,
        ]);
    return key(a) === key(b);
}

describe(`end to end (${target}): the real engine, the real program, a real API server`, function () {
    this.timeout(20 * 60 * 1000);
    let kube: KubeClient;
    const timings: string[] = [];

    before(function () {
        assert.ok(kubeconfig, "KUBECONFIG must name the target cluster's kubeconfig");
        kube = KubeClient.fromKubeconfig(kubeconfig, process.env.E2E_CONTEXT);
    });

    after(function () {
        process.stderr.write(`e2e timings:\n  ${timings.join("\n  ")}\n`);
    });

    if (target === "apiserver") {
        describe("a cluster with nothing installed", function () {
            it(`Istio is in the loop: its charts (${CHARTS_ENV} or ../shared) and its tools (istiod, istioctl) are there`, function () {
                withoutIstio(this, "Istio's charts and tools");
                if (ISTIO.ok)
                    process.stderr.write(
                        `e2e: Istio ${ISTIO.charts.version}'s charts from ${ISTIO.charts.dir}, istiod and istioctl from ${path.dirname(PILOT_DISCOVERY)}\n`,
                    );
            });

            it("the first preview with istio.install=true (the default) plans Istio, the app and the gateway's address, in either traffic API (Gateway API: its CRDs too)", async function () {
                withoutIstio(this, "the first preview with istio.install=true");
                if (!ISTIO.ok) return;
                const charts = await serveFolder(ISTIO.charts.dir);
                const stack = await EphemeralStack.create({
                    program: process.env.E2E_PROGRAM === "inline" ? "inline" : "local",
                });
                try {
                    assert.deepEqual(
                        await kube
                            .list("Namespace")
                            .then((l) => l.map((n) => n.metadata.name).filter((n) => /istio|voting/.test(n))),
                        [],
                        "the cluster must start empty",
                    );
                    await stack.configure(
                        {
                            ...baseSettings(),
                            "istio.chartRepository": charts.url,
                            "istio.version": ISTIO.charts.version,
                            "istio.gatewayServiceType": "NodePort",
                            "images.build": "false",
                            "images.registry": "registry.e2e.invalid",
                        },
                        SECRETS,
                    );
                    for (const api of ["istio", "gateway-api"] as TrafficApi[]) {
                        await stack.stack.setConfig(`${PROJECT}:traffic.api`, { value: api }, true);
                        const t = Date.now();
                        const planned = await stack.preview();
                        timings.push(`first preview, nothing installed, ${api} ${Date.now() - t} ms`);
                        const releases = planned.filter((s) => s.type === "kubernetes:helm.sh/v3:Release");
                        assert.deepEqual(releases.map((s) => `${s.op} ${s.label}`).sort(), [
                            "create Release/istio-base",
                            "create Release/istio-gateway",
                            "create Release/istio-istiod",
                        ]);
                        const read = planned.find(
                            (s) => s.type === "kubernetes:core/v1:Service" && s.op.startsWith("read"),
                        );
                        assert.ok(
                            read,
                            `the gateway Service's read is planned: ${planned.map((s) => `${s.op} ${s.label}`).join(", ")}`,
                        );
                        const app = planned
                            .filter((s) => inAppScope(s) && s.op === "create")
                            .map((s) => s.label)
                            .sort();
                        assert.deepEqual(app, objectsInNamespace("deploy", api), api);
                        // Outside the app: the releases, and with Gateway API its standard channel.
                        const channel = planned
                            .filter((s) => s.type.startsWith("kubernetes:") && !inAppScope(s) && s.op === "create")
                            .filter((s) => !/^kubernetes:(helm\.sh\/v3:Release|core\/v1:Namespace)$/.test(s.type))
                            .map((s) => s.label)
                            .sort();
                        assert.deepEqual(
                            channel,
                            api === "gateway-api" && installsGatewayApiCrds ? CHANNEL_LABELS : [],
                            `${api}: created outside the app namespace`,
                        );
                        assert.deepEqual(await createsOfExistingObjects(kube, planned), []);
                    }
                } finally {
                    await stack.dispose((line) => log(line));
                    await charts.close();
                }
            });
        });
    }

    describe("one stack walks every stage and back, in Istio's API and in Gateway API, and switches API on the live stack", function () {
        let stack: EphemeralStack | undefined;
        let settings: Record<string, string>;
        let istiod: LoopbackIstiod | undefined;
        let env: ClusterEnvironment | undefined;
        let checks: AppChecks;
        let canaryMetrics: { exporter: CanaryExporter; prometheus: LoopbackPrometheus } | undefined;
        /** The stack's traffic API (traffic.api) as of the last up. */
        let api: TrafficApi = "istio";

        before(async function () {
            env = await prepareCluster(kube, timings);
            ({ settings, istiod } = env);
            checks = appChecks(kube, { settings, api: () => api, istiod });
            // The walk starts in Istio's API and switches on its own (traffic.api).
            settings["traffic.api"] = api;
            stack = await EphemeralStack.create({ program: process.env.E2E_PROGRAM === "inline" ? "inline" : "local" });
            // Passwords as secret config: the walk needs no random provider plugin.
            await stack.configure(settings, SECRETS);
        });

        after(async function () {
            this.timeout(10 * 60 * 1000);
            const t = Date.now();
            if (stack) await stack.dispose((line) => log(line));
            timings.push(`clean-up (unprotect, destroy, stack rm) ${Date.now() - t} ms`);
            await env?.stop();
            await canaryMetrics?.prometheus.stop();
            await canaryMetrics?.exporter.stop();
        });

        /**
         * Istio's control plane after an up: istiod validated at least every Istio object the up
         * created or updated (unknown on the first up: istiod starts in it) and injected every pod;
         * the stored objects sent again as a dry run pass (Istio's through istiod's webhook, Gateway
         * API's through the API server's schema and CEL rules); istiod's gateway controller accepted,
         * programmed and resolved every Gateway API object; istioctl analyze is clean.
         */
        async function checkControlPlane(what: string, planned: PlannedStep[], validatedDuringUp?: number) {
            assert.ok(istiod, "istiod runs whenever Istio is in the loop");
            if (validatedDuringUp !== undefined) {
                const applied = planned.filter(
                    (s) => ISTIO_KINDS.test(s.type) && ["create", "update"].includes(s.op),
                ).length;
                assert.ok(
                    validatedDuringUp >= applied,
                    `istiod validated ${validatedDuringUp} objects during the up, which applied ${applied} Istio objects`,
                );
            }
            const appPods = await checkSidecarsInjected(what);
            const sent = await checkStoredObjectsValidated(what);
            if (api === "gateway-api") await checkGatewayApiStatus(what);
            const messages = await analyzeLive(kubeconfig, APP_NAMESPACE);
            assert.deepEqual(
                atLeastWarning(messages),
                [],
                `istioctl analyze -n voting after ${what}:\n${showMessages(messages)}`,
            );
            const counted = await istiod.counters(["galley_validation_passed", "sidecar_injection_success_total"]);
            timings.push(
                `  istio after ${what}: ${appPods} app pods injected; stored objects re-sent: ${sent}; istiod counted ${counted.galley_validation_passed} validations and ${counted.sidecar_injection_success_total} injections so far; istioctl analyze: ${messages.length ? messages.map((m) => `${m.level} ${m.code}`).join(", ") : "no message"}`,
            );
        }

        /**
         * The vote carry (issue 20) after an up: the stage's carry Jobs there and completed, and, in the
         * engine's own event log of the up, each carry after the stores it reads and before the MySQL
         * clients it seeds or the delete of Redis it precedes, after the routes moved users off 1.x.
         * On the throwaway control plane kwok lets a Job's pod succeed at once: the carry's code does
         * not run here (app/test/carry*.test.ts runs it against real Redis and MariaDB). Control: the
         * same log without the carry's events must be reported wherever the up carried.
         */
        async function checkVoteCarry(
            what: string,
            from: StageName | undefined,
            stage: StageName,
            events: AppliedStep[],
        ) {
            const expected = EXPECTED[stage].filter((l) => l.startsWith("Job/")).map((l) => l.slice("Job/".length));
            const jobs = await until(`${what}: the carry Jobs to complete`, 60, async () => {
                const listed = await kube.list("Job", APP_NAMESPACE);
                return listed.every((j) =>
                    (j.status?.conditions ?? []).some((c: any) => c.type === "Complete" && c.status === "True"),
                )
                    ? listed
                    : undefined;
            });
            assert.deepEqual(jobs.map((j) => j.metadata.name).sort(), expected.sort(), `${what}: the carry Jobs`);
            for (const job of jobs)
                assert.ok((job.status?.succeeded ?? 0) >= 1, `${what}: Job/${job.metadata.name} did not succeed`);

            const names = {
                redis: `Deployment/${workloadName({ component: "voting-storage", version: "1.0" })}`,
                mysql: `Deployment/${workloadName({ component: "voting-storage", version: "2.0" })}`,
                mysqlClients: (["voting-app", "voting-analytics"] as const).map(
                    (component) => `Deployment/${workloadName({ component, version: "2.0" })}`,
                ),
                stageRunsRedis: EXPECTED[stage].includes(
                    `Deployment/${workloadName({ component: "voting-storage", version: "1.0" })}`,
                ),
            };
            assert.deepEqual(carryOrderProblems(events, names), [], `${what}: the engine's order`);
            // The up ran a carry where it entered a stage with one (not from a stage with the same Job).
            const created = events.filter((e) => e.phase === "done" && e.op === "create" && e.label.startsWith("Job/"));
            const entering = expected.filter((j) => !from || !EXPECTED[from].includes(`Job/${j}`));
            assert.deepEqual(
                created.map((e) => e.label.slice("Job/".length)),
                entering,
                `${what}: the carry Jobs the up created`,
            );
            // Control: where the carry is what keeps the order (Redis deleted, or MySQL's clients started
            // beside Redis), the same log without the carry's events must be reported.
            const guards =
                events.some((e) => e.op === "delete" && e.label === names.redis) ||
                (names.stageRunsRedis && events.some((e) => e.op === "create" && names.mysqlClients.includes(e.label)));
            if (guards) {
                const withoutCarry = events.filter((e) => !e.label.startsWith("Job/"));
                assert.notDeepEqual(
                    carryOrderProblems(withoutCarry, names),
                    [],
                    `${what}: control, the carry's events removed`,
                );
            }
        }

        /** The live checks through the ingress (cluster target): what users see at this stage. */
        function throughTheIngress(step: string, stage: StageName) {
            if (target !== "cluster") return;
            it(`${step}: through the ingress, users see what the stage promises`, async () => {
                // A LoadBalancer's address from the stack; with a NodePort or ClusterIP gateway
                // (plain kind) the URL the user maps to it (extraPortMappings, port-forward).
                const url = process.env.E2E_INGRESS_URL || (await stack!.stack.outputs()).ingressUrl?.value;
                assert.ok(url, "no ingress URL: the gateway Service has no load-balancer address; set E2E_INGRESS_URL");
                await checkStageThroughIngress(stage, url);
                if (STRICT_MTLS_STAGES.includes(stage)) await checkPlaintextRefused(kube);
            });
        }

        /** One transition of the stage walk in the stack's traffic API: preview, up, Istio's control plane. */
        function stageStep(step: string, from: StageName | undefined, stage: StageName) {
            let planned: PlannedStep[] = [];
            /** How many objects istiod validated during this step's up (unknown on the first up: istiod starts in it). */
            let validatedDuringUp: number | undefined;

            it(`${step}: the engine's preview plans exactly the stage table's changes, and no create of an object that exists`, async () => {
                await stack!.stack.setConfig(`${PROJECT}:stage`, { value: stage });
                const t = Date.now();
                planned = await stack!.preview();
                timings.push(`preview ${step} ${Date.now() - t} ms`);
                await checks.checkPlanSafe(planned);
                const changes = checks.appChanges(planned);
                if (!from) {
                    assert.deepEqual(changes.create, objectsInNamespace(stage, api));
                    return;
                }
                assert.deepEqual(changes, expectedChanges(from, stage, api));
                assert.deepEqual(
                    checks.outsideTheApp(planned).map((s) => `${s.op} ${s.label}`),
                    [],
                    "a stage change touches nothing outside the app namespace (cluster, Istio, Gateway API's CRDs, the namespace itself)",
                );
            });

            it(`${step}: pulumi up, then the cluster holds the stage's objects, the same volumes, and routes`, async () => {
                const validatedBefore = istiod?.running ? await istiod.counter("galley_validation_passed") : undefined;
                const t = Date.now();
                const outputs = await stack!.up((line) => log(line));
                timings.push(`up ${step} ${Date.now() - t} ms`);
                if (istiod && validatedBefore !== undefined)
                    validatedDuringUp = (await istiod.counter("galley_validation_passed")) - validatedBefore;
                await checks.checkAfterUp(step, stage, 0, outputs);
                await checkVoteCarry(step, from, stage, stack!.lastUp);
            });

            if (target === "apiserver") {
                it(`${step}: Istio's control plane: istiod validated what the up applied, injected every pod and accepted every Gateway API object; the stored objects pass validation; istioctl analyze is clean`, async function () {
                    withoutIstio(this, `${step}, Istio's checks`);
                    await checkControlPlane(step, planned, validatedDuringUp);
                });
            }
            throughTheIngress(step, stage);
        }

        /**
         * The weighted canary, raised and lowered: each up moves only the ingress route (Istio's
         * VirtualService or Gateway API's HTTPRoute), and users stay where the weight sent them.
         */
        function weightedCanary(step: string, weights: number[]) {
            it(`${step}: a weighted canary (canaryWeight ${weights.join(", ")}): each up moves only the ingress route, and users stay where the weight sent them`, async () => {
                for (const weight of weights) {
                    await stack!.stack.setConfig(`${PROJECT}:canaryWeight`, { value: String(weight) });
                    const preview = await stack!.preview();
                    assert.deepEqual(
                        preview
                            .filter((s) => !["same", "read"].includes(s.op) && !/^pulumi:pulumi:Stack$/.test(s.type))
                            .map((s) => `${s.op} ${s.label}`),
                        inTrafficApi(api, ["VirtualService/voting-app"]).map((l) => `update ${l}`),
                        `canaryWeight ${weight}`,
                    );
                    const t = Date.now();
                    const outputs = await stack!.up((line) => log(line));
                    timings.push(`up ${api} canaryWeight ${weight} ${Date.now() - t} ms`);
                    assert.equal(outputs.canaryWeight.value, weight);
                    checks.checkRouting(await checks.liveObjects(), "canary", weight, `${api}, canary`);
                    if (istiod) {
                        // The up went through istiod's validation and its gateway controller; its analyzers on the sticky routes too.
                        if (api === "gateway-api") await checkGatewayApiStatus(`${api} canaryWeight ${weight}`);
                        const messages = await analyzeLive(kubeconfig, APP_NAMESPACE);
                        assert.deepEqual(
                            atLeastWarning(messages),
                            [],
                            `istioctl analyze at canaryWeight ${weight}:\n${showMessages(messages)}`,
                        );
                    }
                }
            });
        }

        /**
         * A switch of traffic.api on the live stack at `stage` (the canary at `weight`): the preview
         * plans exactly the new API's objects created and the old one's deleted (nothing updated, no
         * Deployment touched, nothing replaced, no create of an object that exists; outside the app
         * only Gateway API's standard channel, created on the way to it and only forgotten on the way
         * back); after the up the cluster holds exactly the new API's objects, the same pods and
         * volumes, Gateway API's CRDs still there, and every request routed.
         */
        function switchApi(step: string, stage: StageName, to: TrafficApi, weight: number) {
            let planned: PlannedStep[] = [];
            let validatedDuringUp: number | undefined;
            const name = `${step}: switching traffic.api to ${to}`;

            it(`${name}: the preview plans exactly ${to}'s objects created and the other API's deleted, nothing updated or replaced (the app's pods untouched), and no create of an object that exists`, async () => {
                const from = api;
                assert.notEqual(from, to);
                await stack!.stack.setConfig(`${PROJECT}:traffic.api`, { value: to }, true);
                settings["traffic.api"] = to;
                const t = Date.now();
                planned = await stack!.preview();
                timings.push(`preview ${name} ${Date.now() - t} ms`);
                await checks.checkPlanSafe(planned);
                assert.deepEqual(
                    checks.appChanges(planned),
                    expectedSwitch(stage, from, to),
                    `${from} -> ${to} at ${stage}`,
                );
                const outside = checks.outsideTheApp(planned).filter((s) => s.custom);
                assert.deepEqual(
                    outside.map((s) => `${s.op} ${s.label}`).sort(),
                    installsGatewayApiCrds
                        ? CHANNEL_LABELS.map((l) => `${to === "gateway-api" ? "create" : "delete"} ${l}`)
                        : [],
                    "outside the app: Gateway API's standard channel, and nothing else",
                );
                // Deleting a CRD deletes every object of its kind in the cluster, other owners' too.
                for (const s of outside.filter((x) => x.op === "delete"))
                    assert.ok(s.retainOnDelete, `${s.label} would be deleted from the cluster, not only forgotten`);
            });

            it(`${name}: pulumi up, then the cluster holds exactly ${to}'s objects, the same pods and volumes, Gateway API's CRDs, and routes`, async () => {
                const pods = await checks.podUids();
                const validatedBefore = istiod?.running ? await istiod.counter("galley_validation_passed") : undefined;
                const t = Date.now();
                const outputs = await stack!.up((line) => log(line));
                timings.push(`up ${name} ${Date.now() - t} ms`);
                if (istiod && validatedBefore !== undefined)
                    validatedDuringUp = (await istiod.counter("galley_validation_passed")) - validatedBefore;
                api = to;
                assert.equal(outputs.canaryWeight.value, weight);
                await checks.checkAfterUp(name, stage, weight, outputs);
                assert.deepEqual(await checks.podUids(), pods, "switching API restarted or replaced the app's pods");
            });

            if (target === "apiserver") {
                it(`${name}: Istio's control plane: istiod validated what the up applied, injected every pod and accepted every Gateway API object; the stored objects pass validation; istioctl analyze is clean`, async function () {
                    withoutIstio(this, `${name}, Istio's checks`);
                    await checkControlPlane(name, planned, validatedDuringUp);
                });
            }
            throughTheIngress(name, stage);
        }

        /**
         * npm run promote's promotion with the real engine and a real Prometheus (Debian's) that
         * scrapes Istio-shaped series of the canary; the cluster is checked after each up. Each case
         * starts at canary (weight 0) and leaves the stack there for the walk to go on. Run in
         * Istio's API only: promotion drives stage and canaryWeight, which the weighted canary checks
         * in both APIs.
         */
        function promotions(step: string) {
            const expectedEnd = { healthy: "finalize", erroring: "lockdown", slow: "lockdown", silent: "lockdown" };
            const why = {
                healthy: undefined,
                erroring: /success rate (8[5-9]|9[0-4])\.\d % is below 99 %/,
                slow: /p99 latency (9[5-9]\d) ms is above 500 ms/,
                silent: /success rate: no data; p99 latency: no data/,
            };
            for (const scenario of ["erroring", "slow", "silent", "healthy"] as CanaryScenario[]) {
                it(`${step}: npm run promote with ${scenario === "erroring" ? "an" : "a"} ${scenario} canary ends at ${expectedEnd[scenario]}, the cluster checked at each up`, async () => {
                    if (!canaryMetrics) {
                        const exporter = new CanaryExporter();
                        const prometheus = await LoopbackPrometheus.start(await exporter.start());
                        canaryMetrics = { exporter, prometheus };
                    }
                    canaryMetrics.exporter.scenario = scenario;
                    const lines: string[] = [];
                    const ups: string[] = [];
                    const t = Date.now();
                    const result = await promote(
                        { steps: [50, 100], intervalMs: 4000, threshold: 2, gates: FLAGGER_GATES, window: "4s" },
                        {
                            stack: automationStack(stack!.stack, (line) => log(line)),
                            query: prometheusQuery(canaryMetrics.prometheus.url),
                            sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
                            log: (line) => {
                                lines.push(line);
                                // Promotion's progress lines, as a user sees them, in the walk's output.
                                process.stderr.write(`e2e: ${line}\n`);
                            },
                            afterUp: async (at, weight) => {
                                ups.push(`${at}@${weight}`);
                                const objects = await checks.liveObjects();
                                assert.deepEqual(
                                    labelsOf(objects),
                                    objectsInNamespace(at, api),
                                    `${scenario}, after the up to ${at}@${weight}`,
                                );
                                checks.checkRouting(objects, at, weight, `${scenario}, after the up to ${at}`);
                            },
                        },
                    );
                    timings.push(`promote, ${scenario} canary ${Date.now() - t} ms`);
                    if (scenario === "healthy") {
                        // Control for the gates: only the healthy canary may reach finalize.
                        assert.deepEqual(result.outcome, "finalized", lines.join("\n"));
                        assert.deepEqual(ups, ["canary@50", "canary@100", "finalize@0"]);
                    } else {
                        assert.equal(result.outcome, "rolled-back", lines.join("\n"));
                        assert.match(result.reason ?? "", why[scenario]!);
                        assert.deepEqual(ups, ["canary@50", "canary@0", "lockdown@0"]);
                    }
                    const outputs = await stack!.stack.outputs();
                    assert.equal(outputs.stage.value, expectedEnd[scenario]);
                    // Back to canary at weight 0, where the walk goes on from.
                    await stack!.stack.setConfig(`${PROJECT}:stage`, { value: "canary" });
                    await stack!.stack.setConfig(`${PROJECT}:canaryWeight`, { value: "0" });
                    const back = await stack!.up((line) => log(line));
                    assert.equal(back.stage.value, "canary");
                });
            }
        }

        /**
         * A control case: `pulumi up` of a stack of its own that applies only `object` must fail with
         * `refusal`, and the object must not be in the cluster afterwards.
         */
        async function expectUpRefused(object: KubeObject, refusal: RegExp) {
            const k8s = await import("@pulumi/kubernetes");
            const invalid = await EphemeralStack.create({
                program: "inline",
                inlineProgram: async () => {
                    const provider = new k8s.Provider("e2e", { kubeconfig });
                    new k8s.apiextensions.CustomResource(object.metadata.name, object, { provider });
                },
            });
            try {
                let error: Error | undefined;
                await invalid.up().catch((err: Error) => (error = err));
                assert.ok(error, `the up went through with an invalid ${object.kind}`);
                assert.match(error.message, refusal);
                assert.equal(await kube.get(object.kind, object.metadata.namespace, object.metadata.name), undefined);
            } finally {
                await invalid.dispose((line) => log(line));
            }
        }

        /** Gateway API's control cases, while its objects are in the cluster. */
        function gatewayApiControls() {
            it("a Gateway API object the API server refuses (a CEL rule of its CRD: a Service backendRef without a port) fails `pulumi up`", async function () {
                // Valid for the CRD's OpenAPI schema; its CEL rule "Must have port for Service reference" refuses it.
                await expectUpRefused(
                    {
                        apiVersion: `${GATEWAY_API_GROUP}/v1`,
                        kind: "HTTPRoute",
                        metadata: { name: "e2e-invalid-httproute", namespace: APP_NAMESPACE },
                        spec: {
                            parentRefs: [{ group: "", kind: "Service", name: "e2e-no-such-parent", port: 8080 }],
                            rules: [{ backendRefs: [{ name: "e2e-no-such-backend" }] }],
                        },
                    },
                    /Must have port for Service reference/,
                );
            });

            if (target === "apiserver") {
                it("control: istiod's gateway controller and the live analyzers do report an HTTPRoute to a Service that does not exist (ResolvedRefs False, IST0171)", async function () {
                    withoutIstio(this, "the Gateway API status control case");
                    // Attached where the program's ingress route is, for a hostname no user asks for.
                    const ingress = await kube.get("HTTPRoute", APP_NAMESPACE, "voting-app");
                    assert.ok(ingress, "the program's ingress HTTPRoute");
                    const control: KubeObject = {
                        apiVersion: `${GATEWAY_API_GROUP}/v1`,
                        kind: "HTTPRoute",
                        metadata: { name: "e2e-status-control", namespace: APP_NAMESPACE },
                        spec: {
                            parentRefs: ingress.spec.parentRefs,
                            hostnames: ["control.e2e.invalid"],
                            rules: [{ backendRefs: [{ name: "e2e-no-such-service", port: 8080 }] }],
                        },
                    };
                    await kube.ensure(control);
                    try {
                        let reported: string[] = [];
                        await until("istiod's status on the control HTTPRoute", 60, async () => {
                            const live = await kube.get("HTTPRoute", APP_NAMESPACE, control.metadata.name);
                            reported = (live?.status?.parents ?? []).flatMap((p: any) =>
                                (p.conditions ?? [])
                                    .filter((c: any) => c.type === "ResolvedRefs" && c.status === "False")
                                    .map((c: any) => `${p.controllerName} ${c.reason}: ${c.message}`),
                            );
                            return reported.length ? true : undefined;
                        });
                        assert.match(
                            reported.join("\n"),
                            new RegExp(`^${ISTIO_GATEWAY_CONTROLLER} BackendNotFound`, "m"),
                        );
                        const messages = await analyzeLive(kubeconfig, APP_NAMESPACE);
                        assert.ok(
                            atLeastWarning(messages).some(
                                (m) => m.code === "IST0171" && /e2e-status-control/.test(`${m.origin} ${m.message}`),
                            ),
                            `expected IST0171 for the control HTTPRoute, got:\n${showMessages(messages)}`,
                        );
                    } finally {
                        await kube.remove("HTTPRoute", APP_NAMESPACE, control.metadata.name);
                    }
                });
            }
        }

        /** Istio's control cases. */
        function istioControls() {
            if (target === "apiserver") {
                it("an Istio object istiod rejects fails `pulumi up` (validation.istio.io), as on AKS", async function () {
                    withoutIstio(this, "the validation control case");
                    // Valid for the CRD's schema; istiod refuses the regex (RE2 cannot compile it).
                    await expectUpRefused(
                        {
                            apiVersion: "networking.istio.io/v1",
                            kind: "VirtualService",
                            metadata: { name: "e2e-invalid-route", namespace: APP_NAMESPACE },
                            spec: {
                                hosts: [serviceHost("voting-app")],
                                http: [
                                    {
                                        match: [{ headers: { cookie: { regex: "^(.*?;)?(featureflag=on(;.*)?$" } } }],
                                        route: [{ destination: { host: serviceHost("voting-app") } }],
                                    },
                                ],
                            },
                        },
                        /admission webhook "validation\.istio\.io" denied the request/,
                    );
                });
            }

            if (target === "apiserver") {
                it("control: the live analyzers do report a route to a subset nothing defines (IST0101)", async function () {
                    withoutIstio(this, "the analyzers' control case");
                    const control = {
                        apiVersion: "networking.istio.io/v1",
                        kind: "VirtualService",
                        metadata: { name: "e2e-analyzer-control", namespace: APP_NAMESPACE },
                        spec: {
                            hosts: [serviceHost("voting-analytics")],
                            http: [
                                {
                                    route: [
                                        {
                                            destination: {
                                                host: serviceHost("voting-analytics"),
                                                subset: "no-such-subset",
                                            },
                                        },
                                    ],
                                },
                            ],
                        },
                    };
                    await kube.ensure(control);
                    try {
                        const messages = await analyzeLive(kubeconfig, APP_NAMESPACE);
                        assert.ok(
                            atLeastWarning(messages).some(
                                (m) => m.code === "IST0101" && /no-such-subset/.test(m.message),
                            ),
                            `expected IST0101 for the undefined subset, got:\n${showMessages(messages)}`,
                        );
                    } finally {
                        await kube.remove("VirtualService", APP_NAMESPACE, control.metadata.name);
                    }
                });
            }
        }

        // The walk in Istio's API. At its first lockdown the stack switches to Gateway API, walks
        // every transition both ways there (GATEWAY_API_WALK) and switches back; at its first canary,
        // weighted 30, it switches to Gateway API and back again.
        let n = 0;
        WALK.forEach((stage, i) => {
            const from = i === 0 ? undefined : WALK[i - 1];
            const step = `${++n}. ${from ?? "(new stack)"} -> ${stage}`;
            stageStep(step, from, stage);
            if (stage === "lockdown" && WALK.indexOf("lockdown") === i) {
                switchApi(`${n}a. at lockdown`, "lockdown", "gateway-api", 0);
                GATEWAY_API_WALK.forEach((gaStage, j) => {
                    if (j === 0) return;
                    const gaFrom = GATEWAY_API_WALK[j - 1];
                    const gaStep = `${n}a.${j}. ${gaFrom} -> ${gaStage} (gateway-api)`;
                    stageStep(gaStep, gaFrom, gaStage);
                    // Gateway API at the canary weighted 30 is the canary switch's (below), with every check of an up.
                    if (gaStage === "canary" && GATEWAY_API_WALK.indexOf("canary") === j)
                        weightedCanary(gaStep, [60, 0]);
                });
                gatewayApiControls();
                switchApi(`${n}b. at lockdown`, "lockdown", "istio", 0);
            }
            if (stage === "canary" && WALK.indexOf("canary") === i) {
                weightedCanary(step, [SWITCH_WEIGHT]);
                switchApi(`${n}c. at canary, canaryWeight ${SWITCH_WEIGHT}`, "canary", "gateway-api", SWITCH_WEIGHT);
                switchApi(`${n}d. at canary, canaryWeight ${SWITCH_WEIGHT}`, "canary", "istio", SWITCH_WEIGHT);
                weightedCanary(step, [60, 0]);
                promotions(step);
            }
        });
        istioControls();

        it("pulumi destroy while the votes are protected (the default) fails, and the namespace and both volumes stay", async () => {
            const before = await checks.volumeUids();
            let error: Error | undefined;
            try {
                await stack!.destroy((line) => log(line));
            } catch (err) {
                error = err as Error;
            }
            assert.ok(error, "destroy went through the protected volumes");
            assert.match(error.message, /protected/);
            assert.deepEqual(await checks.volumeUids(), before, "a volume is gone or was re-created");
            assert.ok(
                await kube.get("Namespace", undefined, APP_NAMESPACE),
                "the namespace (and with it the volumes) was deleted",
            );
        });

        it("with data.protect=false applied, pulumi destroy removes everything, the votes' volumes and the namespace too; Gateway API's CRDs stay (other owners' routes live on them)", async () => {
            await stack!.stack.setConfig(`${PROJECT}:data.protect`, { value: "false" }, true);
            await stack!.up((line) => log(line));
            const t = Date.now();
            await stack!.destroy((line) => log(line));
            timings.push(`destroy ${Date.now() - t} ms`);
            assert.deepEqual(Object.values(await checks.volumeUids()).filter(Boolean), []);
            await until(`the namespace ${APP_NAMESPACE} to be gone`, 120, async () =>
                (await kube.get("Namespace", undefined, APP_NAMESPACE)) ? undefined : true,
            );
            await checks.checkChannelKept("after destroy");
        });

        /**
         * istiod injected every pod: the app's (namespace label istio-injection=enabled) and the
         * gateway's (the chart's `gateway` template), each with its istio-proxy container. Returns
         * how many of the app's pods it checked.
         */
        async function checkSidecarsInjected(what: string): Promise<number> {
            const pods = [
                ...(await kube.list("Pod", APP_NAMESPACE)),
                ...(await kube.list("Pod", gatewayNamespace)),
            ].filter((p) => !p.metadata.deletionTimestamp);
            assert.ok(pods.length > 0, `${what}: no pods`);
            const proxyOf = (p: KubeObject) =>
                [...(p.spec.containers ?? []), ...(p.spec.initContainers ?? [])].find(
                    (c: any) => c.name === "istio-proxy",
                );
            const missing = pods.filter(
                (p) =>
                    !proxyOf(p) ||
                    !(p.metadata.annotations as Record<string, string> | undefined)?.["sidecar.istio.io/status"],
            );
            assert.deepEqual(
                missing.map((p) => `${p.metadata.namespace}/${p.metadata.name}`),
                [],
                `${what}: pods without an injected istio-proxy`,
            );
            return pods.filter((p) => p.metadata.namespace === APP_NAMESPACE).length;
        }

        /**
         * The API groups whose objects the API server sends to the loopback istiod for validation, as
         * the live ValidatingWebhookConfigurations (Istio's charts') say: networking, security,
         * telemetry and extensions.istio.io; not Gateway API's, which Istio leaves to the API server
         * (the CRDs' schemas and CEL rules) and judges in its gateway controller's status instead.
         */
        async function groupsSentToIstiod(): Promise<Set<string>> {
            const groups = new Set<string>();
            for (const config of await kube.list("ValidatingWebhookConfiguration"))
                for (const webhook of config.webhooks ?? []) {
                    const url: string = webhook.clientConfig?.url ?? "";
                    const service: string = webhook.clientConfig?.service?.name ?? "";
                    if (!url.startsWith(`https://localhost:${ISTIOD_PORTS.webhooks}/`) && !/^istiod\b/.test(service))
                        continue;
                    for (const rule of webhook.rules ?? [])
                        if ((rule.operations ?? []).some((op: string) => op === "UPDATE" || op === "*"))
                            for (const group of rule.apiGroups ?? []) groups.add(group);
                }
            return groups;
        }

        /**
         * Every traffic object stored in the namespace (Istio's and Gateway API's), sent again as a
         * dry run, is accepted: by the API server (its schema, and a CRD's CEL rules) and, for the
         * groups Istio's webhooks cover, by istiod's validation webhook, which counts each (so the
         * webhook is really in the path, failurePolicy aside). This also covers the first up, whose
         * objects can reach the API server before the loopback istiod answers (kwok reports the
         * chart's istiod pods ready at once). Returns what it sent, for the timings.
         */
        async function checkStoredObjectsValidated(what: string): Promise<string> {
            const objects = [
                ...(
                    await Promise.all(
                        ["Gateway", "VirtualService", "DestinationRule", "PeerAuthentication"].map((k) =>
                            kube.list(k, APP_NAMESPACE),
                        ),
                    )
                ).flat(),
                ...(await checks.liveObjects()).filter((o) => o.apiVersion.startsWith(`${GATEWAY_API_GROUP}/`)),
            ];
            const groups = await groupsSentToIstiod();
            const groupOf = (o: KubeObject) => o.apiVersion.split("/")[0];
            const toIstiod = objects.filter((o) => groups.has(groupOf(o)) || groups.has("*"));
            const istio = objects.filter((o) => /\.istio\.io$/.test(groupOf(o)));
            assert.deepEqual(
                istio.filter((o) => !toIstiod.includes(o)).map(objectLabel),
                [],
                `${what}: Istio objects istiod's webhooks are not sent`,
            );
            const before = await istiod!.counter("galley_validation_passed");
            for (const o of objects) {
                const path = await kube.pathOf(o);
                await kube.request("PUT", `${path}?dryRun=All`, o);
            }
            const validated = (await istiod!.counter("galley_validation_passed")) - before;
            assert.equal(
                validated,
                toIstiod.length,
                `${what}: istiod validated ${validated} of the ${toIstiod.length} objects its webhooks are sent (groups ${[...groups].join(", ")}), of ${objects.length} sent as a dry run`,
            );
            return `${objects.length}, ${toIstiod.length} through istiod`;
        }

        /**
         * What istiod's gateway controller says of the program's Gateway API objects, at their current
         * generation: the GatewayClass and the Gateway Accepted, the Gateway and its listeners
         * Programmed (its address resolved to the ingress gateway's Service and pods), every HTTPRoute
         * Accepted with its references resolved on every parent it names (the Gateway's listener, or
         * the Service in the mesh). Waits for istiod to catch up with the last up (a minute at most).
         */
        async function checkGatewayApiStatus(what: string) {
            const problemsNow = async (): Promise<string[]> => {
                const objects = (await checks.liveObjects()).filter((o) =>
                    o.apiVersion.startsWith(`${GATEWAY_API_GROUP}/`),
                );
                const problems: string[] = [];
                if (objects.length === 0) problems.push("no Gateway API object");
                for (const o of objects) {
                    const generation = o.metadata.generation as number;
                    const label = objectLabel(o);
                    if (o.kind === "Gateway") {
                        const gatewayClass = await kube.get("GatewayClass", undefined, o.spec.gatewayClassName);
                        problems.push(
                            ...conditionProblems(
                                `GatewayClass/${o.spec.gatewayClassName}`,
                                gatewayClass?.status?.conditions,
                                (gatewayClass?.metadata.generation as number | undefined) ?? 0,
                                { Accepted: "True" },
                            ),
                            ...conditionProblems(label, o.status?.conditions, generation, {
                                Accepted: "True",
                                Programmed: "True",
                            }),
                        );
                        for (const listener of o.spec.listeners ?? []) {
                            const status = (o.status?.listeners ?? []).find((l: any) => l.name === listener.name);
                            problems.push(
                                ...conditionProblems(
                                    `${label} listener ${listener.name}`,
                                    status?.conditions,
                                    generation,
                                    {
                                        Accepted: "True",
                                        Programmed: "True",
                                        ResolvedRefs: "True",
                                        Conflicted: "False",
                                    },
                                ),
                            );
                        }
                        continue;
                    }
                    for (const ref of o.spec.parentRefs ?? []) {
                        const parent = (o.status?.parents ?? []).find(
                            (p: any) => p.controllerName === ISTIO_GATEWAY_CONTROLLER && sameParent(p.parentRef, ref),
                        );
                        problems.push(
                            ...conditionProblems(
                                `${label} on ${ref.kind ?? "Gateway"} ${ref.name}`,
                                parent?.conditions,
                                generation,
                                { Accepted: "True", ResolvedRefs: "True" },
                            ),
                        );
                    }
                }
                return problems;
            };
            const deadline = Date.now() + 60_000;
            let problems = await problemsNow();
            while (problems.length && Date.now() < deadline) {
                await new Promise((r) => setTimeout(r, 500));
                problems = await problemsNow();
            }
            assert.deepEqual(problems, [], `${what}: istiod's gateway controller on the Gateway API objects`);
        }
    });
});

/**
 * scripts/remove-stack.sh, which the AKS workflow runs at the end of a walk and when a pull request
 * closes, with the real CLI on a throwaway file backend: a stack that does not exist is not an
 * error; a stack holding a protected resource (as the votes' volumes are) is unprotected, destroyed
 * and removed; with --forget, a stack whose resources are already gone is removed without them.
 */
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
