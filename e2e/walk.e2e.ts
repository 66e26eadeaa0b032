/**
 * The real Pulumi engine runs the real program against a real Kubernetes API server.
 *
 * First, on a cluster where nothing is installed, the preview a new user's first `pulumi up` makes
 * (istio.install=true, Istio's charts from a Helm repository on loopback). Then one ephemeral
 * stack walks every adjacent transition in both directions,
 *   deploy -> update -> lockdown -> canary -> finalize -> canary -> lockdown -> canary -> lockdown
 *   -> update -> deploy,
 * checking before each `up` what the engine's preview plans (and that no planned create names an
 * object the cluster already holds: from Kubernetes provider 4.29 on, such a create fails), and
 * after it what the cluster holds (objects present and absent, the votes' volumes with the same
 * UIDs all along, the storage Service's endpoints per engine, routing evaluated request by request,
 * and `render`'s YAML as the API server itself decodes it). Last, `pulumi destroy` as users run it:
 * refused for the votes while they are protected, complete once they are not.
 *
 * With the apiserver target the program installs Istio itself from its charts, and a real istiod
 * on loopback validates every Istio object and injects every pod (e2e/istiod.ts); after each `up`,
 * `istioctl analyze` on the live namespace must be clean.
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
import * as YAML from "yaml";
import { followUserRequest, describe as show } from "../test/support/mesh";
import { expectPaths, expectStorageClientsServed } from "../test/support/checks";
import { EXPECTED, expectedSticky, FLAG, FORWARD, NO_FLAG, ROUTES, STICKY_COOKIES } from "../test/support/expected";
import { clusterOfObjects } from "../test/support/runs";
import { ChartRepository, CHARTS_ENV, rigChartRepository } from "../test/support/chartRepository";
import { analyzeLive, atLeastWarning, showMessages } from "../test/support/istioctl";
import {
    installGatewayStandIn,
    installIstioCrds,
    installVolumes,
    serveFolder,
    STAND_IN_LOAD_BALANCER_IP,
    standInLoadBalancer,
    until,
} from "./clusterSetup";
import { EphemeralStack, PlannedStep, ROOT } from "./ephemeralStack";
import { LoopbackIstiod, PILOT_DISCOVERY, webhookValues } from "./istiod";
import { KubeClient, KubeObject } from "./kube";
import { checkPlaintextRefused, checkStageThroughIngress } from "./live";
import { CanaryExporter, CanaryScenario, LoopbackPrometheus } from "./prometheus";
import { automationStack, prometheusQuery, promote } from "../scripts/promote";
import { FLAGGER_GATES } from "../stages/promotion";
import { STRICT_MTLS_STAGES } from "../stages/model";
import { APP_NAMESPACE, DEFAULT_GATEWAY, PROJECT, serviceHost } from "../stages/names";

const target = process.env.E2E_TARGET ?? "apiserver";
const expectReady = process.env.E2E_EXPECT_READY === "1";
const kubeconfig = process.env.KUBECONFIG ?? "";
/** Extra stack settings (E2E_CONFIG), applied over the walk's own. */
const extraSettings: Record<string, string> = JSON.parse(process.env.E2E_CONFIG ?? "{}");
const gatewayName = extraSettings["istio.gatewayName"] ?? DEFAULT_GATEWAY.name;
const gatewayNamespace = extraSettings["istio.gatewayNamespace"] ?? DEFAULT_GATEWAY.namespace;
const KINDS = [
    "Deployment",
    "Service",
    "Secret",
    "ConfigMap",
    "PersistentVolumeClaim",
    "Gateway",
    "VirtualService",
    "DestinationRule",
    "PeerAuthentication",
    "PodDisruptionBudget",
];
const REPLACING: string[] = ["replace", "create-replacement", "delete-replaced", "discard-replaced"];
const CREATING: string[] = ["create", "create-replacement"];
/** What control planes write into every namespace: Kubernetes' root CA, and istiod's root certificate and revocation list. */
const CONTROL_PLANE_CONFIGMAPS = ["kube-root-ca.crt", "istio-ca-root-cert", "istio-ca-crl"];
const VOLUMES = ["voting-storage-redis-data", "voting-storage-mysql-data"];
const SECRETS = { mysqlPassword: "e2e-app-password-0123", mysqlRootPassword: "e2e-root-password-0123" };

/**
 * Every adjacent transition, forward and back, and canary -> lockdown -> canary (the rollback that
 * brings MySQL's claim back) twice over.
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
 * Istio in the loop (apiserver target): the program installs Istio from its charts (a static chart
 * repository, $E2E_ISTIO_CHARTS or ../shared, served on loopback, at the version its index holds)
 * and a real istiod runs on loopback. Without the charts or the built Istio tools, the walk falls
 * back to stand-ins (Istio's CRDs, a gateway Service) and says so; under CI that fails the walk
 * (its first test), and every Istio check is a test of its own that says why it was skipped.
 */
function istioInTheLoop(): { ok: true; charts: ChartRepository } | { ok: false; why: string } {
    if (target !== "apiserver")
        return { ok: false, why: "the cluster target installs Istio from the real chart repository" };
    const charts = rigChartRepository();
    if ("missing" in charts) return { ok: false, why: `Istio's charts are not there (${charts.missing})` };
    if (!LoopbackIstiod.available())
        return {
            ok: false,
            why: `${PILOT_DISCOVERY} or istioctl is not built (bash scripts/istio-tools.sh builds them)`,
        };
    return { ok: true, charts };
}
const ISTIO = istioInTheLoop();

/** An Istio check without Istio in the loop: skipped with the reason, or a failure under CI. */
function withoutIstio(test: Mocha.Context, check: string) {
    if (ISTIO.ok) return;
    const why = `${check}: Istio is not in the loop (${ISTIO.why})`;
    if (process.env.CI) assert.fail(`under CI, ${why}`);
    process.stderr.write(`e2e: skipped ${why}\n`);
    test.skip();
}
const ISTIO_KINDS = /^kubernetes:(networking|security)\.istio\.io\//;

/** The stage table's objects inside the app namespace (the Namespace itself is not among them), as Kind/name, sorted. */
function objectsInNamespace(stage: string): string[] {
    return EXPECTED[stage].filter((l) => l !== `Namespace/${APP_NAMESPACE}`).sort();
}

/** Objects as Kind/name, sorted. */
function labelsOf(objects: KubeObject[]): string[] {
    return objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();
}

function log(line: string) {
    if (process.env.E2E_VERBOSE) process.stderr.write(line);
}

function expectedChanges(from: string, to: string) {
    const forward = FORWARD[`${from}->${to}`];
    if (forward) return forward;
    const back = FORWARD[`${to}->${from}`];
    if (!back) throw new Error(`${from} -> ${to} is not a transition between neighbours`);
    return { create: back.delete, update: back.update, delete: back.create };
}

/** The planned creates whose object is already in the cluster: each would fail with AlreadyExists. */
async function createsOfExistingObjects(kube: KubeClient, planned: PlannedStep[]): Promise<string[]> {
    const existing: string[] = [];
    for (const step of planned.filter(
        (s) =>
            CREATING.includes(s.op) &&
            s.object &&
            s.type.startsWith("kubernetes:") &&
            !s.type.startsWith("kubernetes:helm.sh"),
    )) {
        if (await kube.exists(step.object!)) existing.push(`${step.op} ${step.label} (${step.urn})`);
    }
    return existing;
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

    const baseSettings = (): Record<string, string> => ({
        "cluster.mode": "kubeconfig",
        "cluster.kubeconfig": kubeconfig,
        ...(process.env.E2E_CONTEXT ? { "cluster.context": process.env.E2E_CONTEXT } : {}),
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

            it("the first preview with istio.install=true (the default) plans Istio, the app and the gateway's address", async function () {
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
                    const t = Date.now();
                    const planned = await stack.preview();
                    timings.push(`first preview, nothing installed ${Date.now() - t} ms`);
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
                        .filter((s) => s.namespace === APP_NAMESPACE && s.op === "create")
                        .map((s) => s.label)
                        .sort();
                    assert.deepEqual(app, objectsInNamespace("deploy"));
                    assert.deepEqual(await createsOfExistingObjects(kube, planned), []);
                } finally {
                    await stack.dispose((line) => log(line));
                    await charts.close();
                }
            });
        });
    }

    describe("one stack walks every stage and back", function () {
        let stack: EphemeralStack | undefined;
        let settings: Record<string, string>;
        let istiod: LoopbackIstiod | undefined;
        let charts: { url: string; close: () => Promise<void> } | undefined;
        let loadBalancer: ReturnType<typeof standInLoadBalancer> | undefined;
        let canaryMetrics: { exporter: CanaryExporter; prometheus: LoopbackPrometheus } | undefined;
        const uids = new Map<string, string>();
        const usedVolumes = new Set<string>();
        const renderChecked = new Set<string>();

        before(async function () {
            settings = baseSettings();
            if (target === "apiserver") {
                const t = Date.now();
                await installVolumes(kube);
                Object.assign(settings, { "images.build": "false", "images.registry": "registry.e2e.invalid" });
                if (ISTIO.ok) {
                    // The program installs Istio (istio.install=true, the default) from its charts; a
                    // real istiod on loopback validates and injects through the charts' webhook URLs;
                    // a stand-in gives the gateway's LoadBalancer Service an address, as AKS's would.
                    charts = await serveFolder(ISTIO.charts.dir);
                    loadBalancer = standInLoadBalancer(kube);
                    istiod = LoopbackIstiod.startWhenInstalled(kube, kubeconfig);
                    Object.assign(settings, {
                        "istio.chartRepository": charts.url,
                        "istio.version": ISTIO.charts.version,
                        "istio.values": JSON.stringify(webhookValues(ISTIO.charts.version)),
                    });
                    timings.push(
                        `cluster stand-ins (storage class and volumes, load balancer), charts served, istiod waiting for its chart ${Date.now() - t} ms`,
                    );
                } else {
                    process.stderr.write(
                        `e2e: Istio is NOT in the loop for this walk (stand-ins: Istio's CRDs and a gateway Service; no validation, injection or analyzers): ${ISTIO.why}\n`,
                    );
                    const source = await installIstioCrds(kube);
                    await installGatewayStandIn(kube, gatewayName, gatewayNamespace);
                    timings.push(
                        `cluster stand-ins (Istio CRDs from ${source}, gateway Service, storage class and volumes) ${Date.now() - t} ms`,
                    );
                    Object.assign(settings, {
                        "istio.install": "false",
                        "istio.gatewayName": gatewayName,
                        "istio.gatewayNamespace": gatewayNamespace,
                    });
                }
            }
            Object.assign(settings, extraSettings);
            stack = await EphemeralStack.create({ program: process.env.E2E_PROGRAM === "inline" ? "inline" : "local" });
            // Passwords as secret config: the walk needs no random provider plugin.
            await stack.configure(settings, SECRETS);
        });

        after(async function () {
            this.timeout(10 * 60 * 1000);
            const t = Date.now();
            if (stack) await stack.dispose((line) => log(line));
            timings.push(`clean-up (unprotect, destroy, stack rm) ${Date.now() - t} ms`);
            await istiod?.stop();
            await loadBalancer?.stop();
            await charts?.close();
            await canaryMetrics?.prometheus.stop();
            await canaryMetrics?.exporter.stop();
        });

        /**
         * The sticky weighted canary on what the API server stored: for no cookie and each canary
         * cookie, the chains reached and the cookie set per app version (test/support/expected.ts).
         */
        function expectSticky(cluster: ReturnType<typeof clusterOfObjects>, stage: string, weight: number) {
            for (const cookie of [undefined, ...STICKY_COOKIES]) {
                const outcomes = followUserRequest(cluster, cookie);
                const { chains, setCookie } = expectedSticky(stage, weight, cookie);
                const what = `${stage} at canaryWeight ${weight}, cookie ${cookie}`;
                expectPaths(outcomes, chains, what);
                for (const o of outcomes)
                    assert.equal(
                        (o.setCookie ?? "").split(";")[0],
                        setCookie[o.path.app] ?? "",
                        `${what}: ${show(outcomes)}`,
                    );
            }
        }

        async function liveObjects(): Promise<KubeObject[]> {
            return (await Promise.all(KINDS.map((kind) => kube.list(kind, APP_NAMESPACE))))
                .flat()
                .filter((o) => !(o.kind === "ConfigMap" && CONTROL_PLANE_CONFIGMAPS.includes(o.metadata.name)));
        }

        async function volumeUids(): Promise<Record<string, string | undefined>> {
            const claims = await kube.list("PersistentVolumeClaim", APP_NAMESPACE);
            return Object.fromEntries(
                VOLUMES.map((name) => [name, claims.find((c) => c.metadata.name === name)?.metadata.uid]),
            );
        }

        WALK.forEach((stage, i) => {
            const from = i === 0 ? undefined : WALK[i - 1];
            const step = `${i + 1}. ${from ?? "(new stack)"} -> ${stage}`;
            let planned: PlannedStep[] = [];
            /** How many objects istiod validated during this step's up (unknown on the first up: istiod starts in it). */
            let validatedDuringUp: number | undefined;

            it(`${step}: the engine's preview plans exactly the stage table's changes, and no create of an object that exists`, async () => {
                await stack!.stack.setConfig(`${PROJECT}:stage`, { value: stage });
                const t = Date.now();
                planned = await stack!.preview();
                timings.push(`preview ${step} ${Date.now() - t} ms`);
                // Kubernetes provider 4.29+ creates client-side: a create of an object that is in the
                // cluster fails with AlreadyExists. The provider built here (4.25) would upsert it
                // silently, so the harness checks it itself.
                assert.deepEqual(
                    await createsOfExistingObjects(kube, planned),
                    [],
                    "planned creates of objects the cluster already holds",
                );
                const replacing = planned.filter((s) => REPLACING.includes(s.op));
                assert.deepEqual(
                    replacing.map((s) => `${s.op} ${s.label}`),
                    [],
                    "nothing may be replaced",
                );
                const inApp = planned.filter((s) => s.namespace === APP_NAMESPACE);
                const ops = (...names: string[]) =>
                    inApp
                        .filter((s) => names.includes(s.op))
                        .map((s) => s.label)
                        .sort();
                for (const volume of inApp.filter((s) => s.label.startsWith("PersistentVolumeClaim/"))) {
                    assert.ok(volume.protect, `${volume.label} is not protected`);
                }
                if (!from) {
                    assert.deepEqual(ops("create"), objectsInNamespace(stage));
                    return;
                }
                assert.deepEqual(
                    { create: ops("create"), update: ops("update"), delete: ops("delete", "discard") },
                    expectedChanges(from, stage),
                );
                const outside = planned.filter(
                    (s) =>
                        s.namespace !== APP_NAMESPACE &&
                        !["same", "read"].includes(s.op) &&
                        !/^pulumi:pulumi:Stack$/.test(s.type),
                );
                assert.deepEqual(
                    outside.map((s) => `${s.op} ${s.label}`),
                    [],
                    "a stage change touches nothing outside the app namespace (cluster, Istio, the namespace itself)",
                );
            });

            it(`${step}: pulumi up, then the cluster holds the stage's objects, the same volumes, and routes`, async () => {
                const validatedBefore = istiod?.running ? await istiod.counter("galley_validation_passed") : undefined;
                const t = Date.now();
                const outputs = await stack!.up((line) => log(line));
                timings.push(`up ${step} ${Date.now() - t} ms`);
                assert.equal(outputs.stage.value, stage);
                if (istiod) {
                    await istiod.ready();
                    validatedDuringUp =
                        validatedBefore === undefined
                            ? undefined
                            : (await istiod.counter("galley_validation_passed")) - validatedBefore;
                    assert.equal(
                        outputs.ingressUrl?.value,
                        `http://${STAND_IN_LOAD_BALANCER_IP}/`,
                        "the gateway's load-balancer address as the stack's ingress URL",
                    );
                }

                const objects = await liveObjects();
                assert.deepEqual(labelsOf(objects), objectsInNamespace(stage));

                // The votes' volumes are the same objects across the whole walk.
                for (const [name, uid] of Object.entries(await volumeUids())) {
                    assert.ok(uid, `${name} is missing`);
                    const first = uids.get(name);
                    if (first) assert.equal(uid, first, `${name} was re-created`);
                    else uids.set(name, uid);
                }
                if (target === "apiserver") {
                    // As on AKS (WaitForFirstConsumer): a claim binds when its store's pod first runs,
                    // and a claim no store has used yet (MySQL's, before canary) stays Pending.
                    for (const claim of await kube.list("PersistentVolumeClaim", APP_NAMESPACE)) {
                        const store =
                            claim.metadata.labels?.version === "1.0"
                                ? "Deployment/voting-storage-1-0"
                                : "Deployment/voting-storage-2-0";
                        if (EXPECTED[stage].includes(store)) usedVolumes.add(claim.metadata.name);
                        const phase = usedVolumes.has(claim.metadata.name) ? "Bound" : "Pending";
                        await until(`${claim.metadata.name} to be ${phase}`, 60, async () =>
                            (await kube.get("PersistentVolumeClaim", APP_NAMESPACE, claim.metadata.name))?.status
                                ?.phase === phase
                                ? true
                                : undefined,
                        );
                    }
                }

                if (expectReady) {
                    await until(`the Deployments of ${stage} to be available`, 120, async () => {
                        const deployments = await kube.list("Deployment", APP_NAMESPACE);
                        return deployments.every((d) => (d.status?.availableReplicas ?? 0) >= d.spec.replicas)
                            ? true
                            : undefined;
                    });
                    await checkStorageEndpoints(stage);
                }

                // Routing, request by request, on what the API server stored.
                const cluster = clusterOfObjects(objects, gatewayName);
                const routes = ROUTES[stage];
                for (const cookie of NO_FLAG)
                    expectPaths(followUserRequest(cluster, cookie), routes.withoutFlag, `${stage}, cookie ${cookie}`);
                for (const cookie of FLAG)
                    expectPaths(followUserRequest(cluster, cookie), routes.withFlag, `${stage}, cookie ${cookie}`);
                expectStorageClientsServed(cluster, `${stage}, on the stored objects`);
                // canaryWeight is 0 all along the walk: the sticky canary's cookies route nowhere.
                expectSticky(cluster, stage, 0);
                const strict = objects.find((o) => o.kind === "PeerAuthentication");
                assert.equal(strict?.spec?.mtls?.mode, STRICT_MTLS_STAGES.includes(stage) ? "STRICT" : undefined);

                if (!renderChecked.has(stage)) {
                    renderChecked.add(stage);
                    await checkRenderDecodes(stage);
                }
            });

            if (target === "apiserver") {
                it(`${step}: Istio's control plane: istiod validated what the up applied and injected every pod, the stored Istio objects pass its validation, istioctl analyze is clean`, async function () {
                    withoutIstio(this, `${step}, Istio's checks`);
                    assert.ok(istiod, "istiod runs whenever Istio is in the loop");
                    if (validatedDuringUp !== undefined) {
                        // Every Istio object the up created or updated went through istiod's validation.
                        const applied = planned.filter(
                            (s) => ISTIO_KINDS.test(s.type) && ["create", "update"].includes(s.op),
                        ).length;
                        assert.ok(
                            validatedDuringUp >= applied,
                            `istiod validated ${validatedDuringUp} objects during the up, which applied ${applied} Istio objects`,
                        );
                    }
                    const appPods = await checkSidecarsInjected(stage);
                    await checkIstioValidatesStoredObjects(stage);
                    const messages = await analyzeLive(kubeconfig, APP_NAMESPACE);
                    assert.deepEqual(
                        atLeastWarning(messages),
                        [],
                        `istioctl analyze -n voting after the up to ${stage}:\n${showMessages(messages)}`,
                    );
                    const counted = await istiod.counters([
                        "galley_validation_passed",
                        "sidecar_injection_success_total",
                    ]);
                    timings.push(
                        `  istio after ${step}: ${appPods} app pods injected, istiod counted ${counted.galley_validation_passed} validations and ${counted.sidecar_injection_success_total} injections so far; istioctl analyze: ${messages.length ? messages.map((m) => `${m.level} ${m.code}`).join(", ") : "no message"}`,
                    );
                });
            }

            if (stage === "canary" && WALK.indexOf("canary") === i) {
                it(`${step}: a weighted canary, raised and lowered (canaryWeight 30, 60, 0): each up moves only the ingress route, and users stay where the weight sent them`, async () => {
                    for (const weight of [30, 60, 0]) {
                        await stack!.stack.setConfig(`${PROJECT}:canaryWeight`, { value: String(weight) });
                        const preview = await stack!.preview();
                        assert.deepEqual(
                            preview
                                .filter(
                                    (s) => !["same", "read"].includes(s.op) && !/^pulumi:pulumi:Stack$/.test(s.type),
                                )
                                .map((s) => `${s.op} ${s.label}`),
                            ["update VirtualService/voting-app"],
                            `canaryWeight ${weight}`,
                        );
                        const t = Date.now();
                        const outputs = await stack!.up((line) => log(line));
                        timings.push(`up canaryWeight ${weight} ${Date.now() - t} ms`);
                        assert.equal(outputs.canaryWeight.value, weight);
                        expectSticky(clusterOfObjects(await liveObjects(), gatewayName), "canary", weight);
                        if (istiod) {
                            // The up went through istiod's validation; its analyzers on the sticky routes too.
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

            if (stage === "canary" && WALK.indexOf("canary") === i) {
                // npm run promote's promotion with the real engine and a real Prometheus (Debian's) that
                // scrapes Istio-shaped series of the canary; the cluster is checked after each up. Each
                // case starts at canary (weight 0) and leaves the stack there for the walk to go on.
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
                                    const objects = await liveObjects();
                                    assert.deepEqual(
                                        labelsOf(objects),
                                        objectsInNamespace(at),
                                        `${scenario}, after the up to ${at}@${weight}`,
                                    );
                                    expectSticky(clusterOfObjects(objects, gatewayName), at, weight);
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

            if (target === "cluster") {
                it(`${step}: through the ingress, users see what the stage promises`, async () => {
                    // A LoadBalancer's address from the stack; with a NodePort or ClusterIP gateway
                    // (plain kind) the URL the user maps to it (extraPortMappings, port-forward).
                    const url = process.env.E2E_INGRESS_URL || (await stack!.stack.outputs()).ingressUrl?.value;
                    assert.ok(
                        url,
                        "no ingress URL: the gateway Service has no load-balancer address; set E2E_INGRESS_URL",
                    );
                    await checkStageThroughIngress(stage, url);
                    if (STRICT_MTLS_STAGES.includes(stage)) await checkPlaintextRefused(kube);
                });
            }
        });

        if (target === "apiserver") {
            it("an Istio object istiod rejects fails `pulumi up` (validation.istio.io), as on AKS", async function () {
                withoutIstio(this, "the validation control case");
                const k8s = await import("@pulumi/kubernetes");
                const invalid = await EphemeralStack.create({
                    program: "inline",
                    inlineProgram: async () => {
                        const provider = new k8s.Provider("e2e", { kubeconfig });
                        // Valid for the CRD's schema; istiod refuses the regex (RE2 cannot compile it).
                        new k8s.apiextensions.CustomResource(
                            "invalid-route",
                            {
                                apiVersion: "networking.istio.io/v1",
                                kind: "VirtualService",
                                metadata: { name: "e2e-invalid-route", namespace: APP_NAMESPACE },
                                spec: {
                                    hosts: [serviceHost("voting-app")],
                                    http: [
                                        {
                                            match: [
                                                { headers: { cookie: { regex: "^(.*?;)?(featureflag=on(;.*)?$" } } },
                                            ],
                                            route: [{ destination: { host: serviceHost("voting-app") } }],
                                        },
                                    ],
                                },
                            },
                            { provider },
                        );
                    },
                });
                try {
                    let error: Error | undefined;
                    await invalid.up().catch((err: Error) => (error = err));
                    assert.ok(error, "the up went through with an invalid VirtualService");
                    assert.match(error.message, /admission webhook "validation\.istio\.io" denied the request/);
                    assert.equal(await kube.get("VirtualService", APP_NAMESPACE, "e2e-invalid-route"), undefined);
                } finally {
                    await invalid.dispose((line) => log(line));
                }
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
                        atLeastWarning(messages).some((m) => m.code === "IST0101" && /no-such-subset/.test(m.message)),
                        `expected IST0101 for the undefined subset, got:\n${showMessages(messages)}`,
                    );
                } finally {
                    await kube.remove("VirtualService", APP_NAMESPACE, control.metadata.name);
                }
            });
        }

        it("pulumi destroy while the votes are protected (the default) fails, and the namespace and both volumes stay", async () => {
            const before = await volumeUids();
            let error: Error | undefined;
            try {
                await stack!.destroy((line) => log(line));
            } catch (err) {
                error = err as Error;
            }
            assert.ok(error, "destroy went through the protected volumes");
            assert.match(error.message, /protected/);
            assert.deepEqual(await volumeUids(), before, "a volume is gone or was re-created");
            assert.ok(
                await kube.get("Namespace", undefined, APP_NAMESPACE),
                "the namespace (and with it the volumes) was deleted",
            );
        });

        it("with data.protect=false applied, pulumi destroy removes everything, the votes' volumes and the namespace too", async () => {
            await stack!.stack.setConfig(`${PROJECT}:data.protect`, { value: "false" }, true);
            await stack!.up((line) => log(line));
            const t = Date.now();
            await stack!.destroy((line) => log(line));
            timings.push(`destroy ${Date.now() - t} ms`);
            assert.deepEqual(Object.values(await volumeUids()).filter(Boolean), []);
            await until(`the namespace ${APP_NAMESPACE} to be gone`, 120, async () =>
                (await kube.get("Namespace", undefined, APP_NAMESPACE)) ? undefined : true,
            );
        });

        /**
         * The storage Service's endpoints, as the endpoint-slice controller computed them: port
         * tcp-redis lists only Redis pods, tcp-mysql only MySQL pods, each exactly when it runs.
         */
        async function checkStorageEndpoints(stage: string) {
            const pods = await kube.list("Pod", APP_NAMESPACE);
            const versionOf = new Map(
                pods.map((p) => [p.metadata.name, `${p.metadata.labels?.app}@${p.metadata.labels?.version}`]),
            );
            const wanted: Record<string, string> = {
                "tcp-redis": "voting-storage@1.0",
                "tcp-mysql": "voting-storage@2.0",
            };
            const running = new Set(
                EXPECTED[stage]
                    .filter((l) => l.startsWith("Deployment/voting-storage-"))
                    .map((l) => `voting-storage@${l.slice(-3).replace("-", ".")}`),
            );
            const byPort = new Map<string, string[]>();
            await until(`the storage Service's endpoints at ${stage}`, 60, async () => {
                byPort.clear();
                const slices = (await kube.list("EndpointSlice", APP_NAMESPACE)).filter(
                    (s) => s.metadata.labels?.["kubernetes.io/service-name"] === "voting-storage",
                );
                for (const slice of slices) {
                    for (const port of slice.ports ?? []) {
                        const list = byPort.get(port.name) ?? [];
                        for (const ep of slice.endpoints ?? [])
                            list.push(versionOf.get(ep.targetRef?.name) ?? `unknown pod ${ep.targetRef?.name}`);
                        byPort.set(port.name, list);
                    }
                }
                return Object.entries(wanted).every(
                    ([port, version]) => (byPort.get(port)?.length ?? 0) > 0 === running.has(version),
                )
                    ? true
                    : undefined;
            });
            for (const [port, version] of Object.entries(wanted)) {
                const endpoints = byPort.get(port) ?? [];
                assert.deepEqual(
                    [...new Set(endpoints)],
                    running.has(version) ? [version] : [],
                    `${stage}: endpoints of voting-storage port ${port}`,
                );
            }
        }

        /**
         * istiod injected every pod: the app's (namespace label istio-injection=enabled) and the
         * gateway's (the chart's `gateway` template), each with its istio-proxy container.
         */
        /** Returns how many of the app's pods it checked. */
        async function checkSidecarsInjected(stage: string): Promise<number> {
            const pods = [
                ...(await kube.list("Pod", APP_NAMESPACE)),
                ...(await kube.list("Pod", gatewayNamespace)),
            ].filter((p) => !p.metadata.deletionTimestamp);
            assert.ok(pods.length > 0, `${stage}: no pods`);
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
                `${stage}: pods without an injected istio-proxy`,
            );
            return pods.filter((p) => p.metadata.namespace === APP_NAMESPACE).length;
        }

        /**
         * Every Istio object stored in the namespace, sent again as a dry run, is accepted by istiod's
         * validation webhook, which counts it (so the webhook is really in the path, failurePolicy
         * aside). This also covers the first up, whose objects can reach the API server before the
         * loopback istiod answers (kwok reports the chart's istiod pods ready at once).
         */
        async function checkIstioValidatesStoredObjects(stage: string) {
            const objects = (
                await Promise.all(
                    ["Gateway", "VirtualService", "DestinationRule", "PeerAuthentication"].map((k) =>
                        kube.list(k, APP_NAMESPACE),
                    ),
                )
            ).flat();
            const before = await istiod!.counter("galley_validation_passed");
            for (const o of objects) {
                const path = await kube.pathOf(o);
                await kube.request("PUT", `${path}?dryRun=All`, o);
            }
            const validated = (await istiod!.counter("galley_validation_passed")) - before;
            assert.equal(
                validated,
                objects.length,
                `${stage}: istiod validated ${validated} of the ${objects.length} Istio objects sent as a dry run`,
            );
        }

        /**
         * `render`'s YAML for the stage (same settings), applied as a dry run: the API server decodes
         * each document itself, as kubectl would (YAML 1.1), and validates it; nothing is stored.
         */
        async function checkRenderDecodes(stage: string) {
            const args = ["-r", "ts-node/register/transpile-only", "mock/render.ts", "--stage", stage];
            for (const [k, v] of Object.entries(settings)) args.push("--config", `${k}=${v}`);
            const rendered = spawnSync(process.execPath, args, { cwd: ROOT, encoding: "utf8" });
            assert.equal(rendered.status, 0, rendered.stderr);
            const documents = rendered.stdout.split(/^---\n/m).filter((d) => d.trim());
            assert.ok(documents.length >= EXPECTED[stage].length, `render printed ${documents.length} documents`);
            for (const text of documents) {
                const object = YAML.parse(text);
                await kube.applyYamlDryRun(object, text).catch((err: Error) => {
                    throw new Error(
                        `${stage}: the API server does not read render's ${object.kind}/${object.metadata.name} as meant: ${err.message}`,
                    );
                });
            }
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
