/**
 * What the end-to-end suites share (e2e/walk.e2e.ts, e2e/interrupted.e2e.ts): the target and its
 * settings, the cluster's stand-ins and Istio in the loop, and the checks on what a stack's `pulumi
 * up` left in the cluster (its objects, the votes' volumes, routing request by request on the stored
 * objects, storage endpoints, render's YAML as the API server decodes it). Moved out of the walk as
 * they were; what was the walk's closure is a parameter here.
 */
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { OutputMap } from "@pulumi/pulumi/automation";
import * as YAML from "yaml";
import { objectLabel } from "../mock/changes";
import { followUserRequest, describe as show } from "../test/support/mesh";
import { expectPaths, expectRoutesComplete, expectStorageClientsServed } from "../test/support/checks";
import {
    EXPECTED,
    expectedSticky,
    FLAG,
    FORWARD,
    forwardIn,
    inTrafficApi,
    NO_FLAG,
    STICKY_COOKIES,
} from "../test/support/expected";
import { clusterOfObjects } from "../test/support/runs";
import { ChartRepository, rigChartRepository } from "../test/support/chartRepository";
import {
    installGatewayStandIn,
    installIstioCrds,
    installVolumes,
    serveFolder,
    STAND_IN_LOAD_BALANCER_IP,
    standInLoadBalancer,
    until,
} from "./clusterSetup";
import { PlannedStep, ROOT } from "./ephemeralStack";
import { LoopbackIstiod, PILOT_DISCOVERY, webhookValues } from "./istiod";
import { KubeClient, KubeObject } from "./kube";
import { GATEWAY_API_CRDS_FILE, GatewayApiChannelFile } from "../stages/gatewayApi";
import { StageName, STRICT_MTLS_STAGES } from "../stages/model";
import { APP_NAMESPACE, DEFAULT_GATEWAY } from "../stages/names";
import type { TrafficApi } from "../stages/traffic/router";

export const target = process.env.E2E_TARGET ?? "apiserver";
export const expectReady = process.env.E2E_EXPECT_READY === "1";
export const kubeconfig = process.env.KUBECONFIG ?? "";
/** Extra stack settings (E2E_CONFIG), applied over the walk's own. */
export const extraSettings: Record<string, string> = JSON.parse(process.env.E2E_CONFIG ?? "{}");
export const gatewayName = extraSettings["istio.gatewayName"] ?? DEFAULT_GATEWAY.name;
export const gatewayNamespace = extraSettings["istio.gatewayNamespace"] ?? DEFAULT_GATEWAY.namespace;
/** Whether the program installs Gateway API's CRDs (traffic.gatewayApiCrds, Pulumi.yaml's default: install). */
export const installsGatewayApiCrds = (extraSettings["traffic.gatewayApiCrds"] ?? "install") === "install";
export const KINDS = [
    "Deployment",
    "Job",
    "Service",
    "Secret",
    "ConfigMap",
    "PersistentVolumeClaim",
    "Gateway",
    "VirtualService",
    "DestinationRule",
    "PeerAuthentication",
    "AuthorizationPolicy",
    "ServiceAccount",
    "PodDisruptionBudget",
];
export const GATEWAY_API_GROUP = "gateway.networking.k8s.io";
/** Gateway API's Gateway, as e2e/kube.ts keys it (and as mock/changes.ts labels it). */
export const GATEWAY_API_GATEWAY = `Gateway.${GATEWAY_API_GROUP}`;
export const REPLACING: string[] = ["replace", "create-replacement", "delete-replaced", "discard-replaced"];
export const CREATING: string[] = ["create", "create-replacement"];
/** What control planes write into every namespace: Kubernetes' root CA, and istiod's root certificate and revocation list. */
export const CONTROL_PLANE_CONFIGMAPS = ["kube-root-ca.crt", "istio-ca-root-cert", "istio-ca-crl"];
export const VOLUMES = ["voting-storage-redis-data", "voting-storage-mysql-data"];
export const SECRETS = { mysqlPassword: "e2e-app-password-0123", mysqlRootPassword: "e2e-root-password-0123" };

/**
 * Gateway API's standard channel as the program installs it (traffic.gatewayApiCrds=install): its
 * CRDs, the safe-upgrades ValidatingAdmissionPolicy and its binding, as Kind/name. Every one of them
 * is created by the first switch to Gateway API and kept in the cluster from then on (retainOnDelete).
 */
export const CHANNEL: { kind: string; name: string }[] = (
    JSON.parse(fs.readFileSync(path.join(ROOT, GATEWAY_API_CRDS_FILE), "utf8")) as GatewayApiChannelFile
).objects.map((o) => ({ kind: o.kind, name: o.metadata.name }));
export const CHANNEL_LABELS = CHANNEL.map((o) => `${o.kind}/${o.name}`).sort();

/**
 * Istio in the loop (apiserver target): the program installs Istio from its charts (a static chart
 * repository, $E2E_ISTIO_CHARTS or ../shared, served on loopback, at the version its index holds)
 * and a real istiod runs on loopback. Without the charts or the built Istio tools, the walk falls
 * back to stand-ins (Istio's CRDs, a gateway Service) and says so; under CI that fails the walk
 * (its first test), and every Istio check is a test of its own that says why it was skipped.
 */
export function istioInTheLoop(): { ok: true; charts: ChartRepository } | { ok: false; why: string } {
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
export const ISTIO = istioInTheLoop();

/** An Istio check without Istio in the loop: skipped with the reason, or a failure under CI. */
export function withoutIstio(test: Mocha.Context, check: string) {
    if (ISTIO.ok) return;
    const why = `${check}: Istio is not in the loop (${ISTIO.why})`;
    if (process.env.CI) assert.fail(`under CI, ${why}`);
    process.stderr.write(`e2e: skipped ${why}\n`);
    test.skip();
}

/**
 * The stage table's objects (Namespace aside) in one traffic API, as Kind/name, sorted: the app
 * namespace's, and Gateway API's Gateway wherever the program puts it (see `inAppScope`).
 */
export function objectsInNamespace(stage: string, api: TrafficApi): string[] {
    return inTrafficApi(api, EXPECTED[stage])
        .filter((l) => l !== `Namespace/${APP_NAMESPACE}`)
        .sort();
}

/**
 * Whether a planned step is the app's: in its namespace, or Gateway API's Gateway in the ingress
 * gateway's namespace (where Istio's manual deployment looks for the Service a Gateway's address
 * names).
 */
export function inAppScope(step: Pick<PlannedStep, "label" | "namespace">): boolean {
    return (
        step.namespace === APP_NAMESPACE ||
        (step.namespace === gatewayNamespace && step.label.startsWith(`${GATEWAY_API_GATEWAY}/`))
    );
}

/** Objects as Kind/name (Gateway API's Gateway with its group), sorted. */
export function labelsOf(objects: KubeObject[]): string[] {
    return objects.map((o) => objectLabel(o)).sort();
}

export function log(line: string) {
    if (process.env.E2E_VERBOSE) process.stderr.write(line);
}

/** The stage table's changes from one stage to its neighbour, in one traffic API. */
export function expectedChanges(from: string, to: string, api: TrafficApi) {
    if (FORWARD[`${from}->${to}`]) return forwardIn(api, `${from}->${to}`);
    if (!FORWARD[`${to}->${from}`]) throw new Error(`${from} -> ${to} is not a transition between neighbours`);
    const back = forwardIn(api, `${to}->${from}`);
    return { create: back.delete, update: back.update, delete: back.create };
}

/**
 * The planned creates whose object is already in the cluster: each would fail with AlreadyExists.
 * (A `*Patch` resource is a server-side apply to an object that may exist: it never does.)
 */
export async function createsOfExistingObjects(kube: KubeClient, planned: PlannedStep[]): Promise<string[]> {
    const existing: string[] = [];
    for (const step of planned.filter(
        (s) =>
            CREATING.includes(s.op) &&
            s.object &&
            s.type.startsWith("kubernetes:") &&
            !s.type.startsWith("kubernetes:helm.sh") &&
            !s.type.endsWith("Patch"),
    )) {
        if (await kube.exists(step.object!)) existing.push(`${step.op} ${step.label} (${step.urn})`);
    }
    return existing;
}

/** The walk's settings for every stack on the target: the cluster its kubeconfig names. */
export const baseSettings = (): Record<string, string> => ({
    "cluster.mode": "kubeconfig",
    "cluster.kubeconfig": kubeconfig,
    ...(process.env.E2E_CONTEXT ? { "cluster.context": process.env.E2E_CONTEXT } : {}),
});

/** What prepareCluster started for a suite's stack, and its settings. */
export interface ClusterEnvironment {
    settings: Record<string, string>;
    istiod?: LoopbackIstiod;
    charts?: { url: string; close: () => Promise<void> };
    loadBalancer?: ReturnType<typeof standInLoadBalancer>;
    /** Stops istiod, the load-balancer stand-in and the chart server, in that order. */
    stop(): Promise<void>;
}

/**
 * The cluster as a suite's stack needs it, and the stack's settings (E2E_CONFIG over them): with
 * the apiserver target, the storage class and volumes, and either Istio in the loop (its charts
 * served on loopback, the load-balancer stand-in, istiod waiting for its chart) or stand-ins for an
 * Istio already present (its CRDs, a gateway Service).
 */
export async function prepareCluster(kube: KubeClient, timings: string[]): Promise<ClusterEnvironment> {
    let charts: ClusterEnvironment["charts"];
    let loadBalancer: ClusterEnvironment["loadBalancer"];
    let istiod: LoopbackIstiod | undefined;
    const settings = baseSettings();
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
    return {
        settings,
        istiod,
        charts,
        loadBalancer,
        stop: async () => {
            await istiod?.stop();
            await loadBalancer?.stop();
            await charts?.close();
        },
    };
}

/**
 * The checks on one stack's cluster after its `up`s. `the.api()` is the stack's traffic API as of
 * its last up; the votes' volumes' UIDs (and Gateway API's channel's) are recorded at the first
 * check and must stay the same from then on.
 */
export function appChecks(
    kube: KubeClient,
    the: { settings: Record<string, string>; api: () => TrafficApi; istiod?: LoopbackIstiod },
) {
    const { settings, istiod } = the;
    const uids = new Map<string, string>();
    /** UIDs of Gateway API's standard channel objects, once the program has installed them. */
    const channelUids = new Map<string, string>();
    const usedVolumes = new Set<string>();
    const renderChecked = new Set<string>();

    /**
     * Routing on what the API server stored, request by request: for every Cookie header (none,
     * without and with the flag, the sticky canary's), the chains reached with their shares and
     * the cookie set per app version (test/support/expected.ts); every route of either API
     * complete; every storage client on its own engine.
     */
    function checkRouting(objects: KubeObject[], stage: string, weight: number, what: string) {
        const cluster = clusterOfObjects(objects, gatewayName, gatewayNamespace);
        expectRoutesComplete(cluster, `${what}: routes naming what does not exist`);
        for (const cookie of [undefined, ...NO_FLAG, ...FLAG, ...STICKY_COOKIES]) {
            const outcomes = followUserRequest(cluster, cookie);
            const { chains, setCookie } = expectedSticky(stage, weight, cookie);
            const context = `${what}, canaryWeight ${weight}, cookie ${cookie}`;
            expectPaths(outcomes, chains, context);
            for (const o of outcomes)
                assert.equal(
                    (o.setCookie ?? "").split(";")[0],
                    setCookie[o.path.app] ?? "",
                    `${context}: ${show(outcomes)}`,
                );
        }
        expectStorageClientsServed(cluster, `${what}, on the stored objects`);
    }

    /** The traffic APIs' objects and the app's, in its namespace (Gateway API's Gateway also beside the gateway's Service). */
    async function liveObjects(): Promise<KubeObject[]> {
        const namespaces = [APP_NAMESPACE, ...(gatewayNamespace === APP_NAMESPACE ? [] : [gatewayNamespace])];
        const lists = await Promise.all([
            ...KINDS.map((kind) => kube.list(kind, APP_NAMESPACE)),
            kube.listIfServed("HTTPRoute", APP_NAMESPACE),
            ...namespaces.map((ns) => kube.listIfServed(GATEWAY_API_GATEWAY, ns)),
        ]);
        return (
            lists
                .flat()
                .filter((o) => !(o.kind === "ConfigMap" && CONTROL_PLANE_CONFIGMAPS.includes(o.metadata.name)))
                // Kubernetes gives every namespace a `default` ServiceAccount; the app's pods never use it.
                .filter((o) => !(o.kind === "ServiceAccount" && o.metadata.name === "default"))
        );
    }

    async function volumeUids(): Promise<Record<string, string | undefined>> {
        const claims = await kube.list("PersistentVolumeClaim", APP_NAMESPACE);
        return Object.fromEntries(
            VOLUMES.map((name) => [name, claims.find((c) => c.metadata.name === name)?.metadata.uid]),
        );
    }

    /** The app's pods, as name@uid: a switch of API must leave every one of them running. */
    async function podUids(): Promise<string[]> {
        return (await kube.list("Pod", APP_NAMESPACE))
            .filter((p) => !p.metadata.deletionTimestamp)
            .map((p) => `${p.metadata.name}@${p.metadata.uid}`)
            .sort();
    }

    /**
     * Gateway API's standard channel (traffic.gatewayApiCrds=install): in the cluster from the first
     * switch to Gateway API on, with the same UIDs, whichever API the stack uses now (retainOnDelete).
     */
    async function checkChannelKept(what: string) {
        const api = the.api();
        if (!installsGatewayApiCrds || (api === "istio" && channelUids.size === 0)) return;
        for (const { kind, name } of CHANNEL) {
            const live = await kube.get(kind, undefined, name);
            assert.ok(live, `${what}: ${kind}/${name} of Gateway API's standard channel is gone`);
            const first = channelUids.get(`${kind}/${name}`);
            if (first) assert.equal(live.metadata.uid, first, `${what}: ${kind}/${name} was re-created`);
            else channelUids.set(`${kind}/${name}`, live.metadata.uid!);
        }
    }

    /** The preview's steps outside the app, as "op Kind/name" (the stack itself and what is read aside). */
    const outsideTheApp = (planned: PlannedStep[]) =>
        planned.filter(
            (s) => !inAppScope(s) && !["same", "read"].includes(s.op) && !/^pulumi:pulumi:Stack$/.test(s.type),
        );

    /** The preview's changes in the app (its namespace), by operation, each sorted. */
    function appChanges(planned: PlannedStep[]) {
        const inApp = planned.filter(inAppScope);
        const ops = (...names: string[]) =>
            inApp
                .filter((s) => names.includes(s.op))
                .map((s) => s.label)
                .sort();
        for (const volume of inApp.filter((s) => s.label.startsWith("PersistentVolumeClaim/"))) {
            assert.ok(volume.protect, `${volume.label} is not protected`);
        }
        return { create: ops("create"), update: ops("update"), delete: ops("delete", "discard") };
    }

    /** What every preview must hold: no replacement, and no create of an object the cluster already holds. */
    async function checkPlanSafe(planned: PlannedStep[]) {
        // Kubernetes provider 4.29+ creates client-side: a create of an object that is in the
        // cluster fails with AlreadyExists. The provider built here (4.25) would upsert it
        // silently, so the harness checks it itself.
        assert.deepEqual(
            await createsOfExistingObjects(kube, planned),
            [],
            "planned creates of objects the cluster already holds",
        );
        assert.deepEqual(
            planned.filter((s) => REPLACING.includes(s.op)).map((s) => `${s.op} ${s.label}`),
            [],
            "nothing may be replaced",
        );
    }

    /**
     * After an up to `stage` (at `weight`) in the stack's API: the stage's objects in that API and
     * no other, the votes' volumes (same UIDs, Bound once used), Gateway API's channel kept, the
     * Deployments available and the storage endpoints per engine, routing on the stored objects,
     * STRICT mTLS, and render's YAML as the API server decodes it.
     */
    async function checkAfterUp(what: string, stage: StageName, weight: number, outputs: OutputMap) {
        const api = the.api();
        assert.equal(outputs.stage.value, stage);
        assert.equal(outputs.trafficApi?.value, api, "the stack's traffic API");
        if (istiod) {
            await istiod.ready();
            assert.equal(
                outputs.ingressUrl?.value,
                `http://${STAND_IN_LOAD_BALANCER_IP}/`,
                "the gateway's load-balancer address as the stack's ingress URL",
            );
        }

        const objects = await liveObjects();
        assert.deepEqual(labelsOf(objects), objectsInNamespace(stage, api), `${what}: the objects in the cluster`);

        // The votes' volumes are the same objects across the whole walk.
        for (const [name, uid] of Object.entries(await volumeUids())) {
            assert.ok(uid, `${name} is missing`);
            const first = uids.get(name);
            if (first) assert.equal(uid, first, `${name} was re-created`);
            else uids.set(name, uid);
        }
        await checkChannelKept(what);
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
                    (await kube.get("PersistentVolumeClaim", APP_NAMESPACE, claim.metadata.name))?.status?.phase ===
                    phase
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

        checkRouting(objects, stage, weight, what);
        const strict = objects.find((o) => o.kind === "PeerAuthentication");
        assert.equal(strict?.spec?.mtls?.mode, STRICT_MTLS_STAGES.includes(stage) ? "STRICT" : undefined);

        if (!renderChecked.has(`${api} ${stage}`)) {
            renderChecked.add(`${api} ${stage}`);
            await checkRenderDecodes(stage);
        }
    }

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
     * `render`'s YAML for the stage (same settings, traffic API included), applied as a dry run:
     * the API server decodes each document itself, as kubectl would (YAML 1.1), and validates it;
     * nothing is stored.
     */
    async function checkRenderDecodes(stage: string) {
        const api = the.api();
        const args = ["-r", "ts-node/register/transpile-only", "cmd/render.ts", "--stage", stage];
        for (const [k, v] of Object.entries(settings)) args.push("--config", `${k}=${v}`);
        const rendered = spawnSync(process.execPath, args, { cwd: ROOT, encoding: "utf8" });
        assert.equal(rendered.status, 0, rendered.stderr);
        const documents = rendered.stdout.split(/^---\n/m).filter((d) => d.trim());
        const expected = inTrafficApi(api, EXPECTED[stage]).length;
        assert.ok(documents.length >= expected, `render printed ${documents.length} documents of ${expected}`);
        for (const text of documents) {
            const object = YAML.parse(text);
            await kube.applyYamlDryRun(object, text).catch((err: Error) => {
                throw new Error(
                    `${stage}: the API server does not read render's ${object.kind}/${object.metadata.name} as meant: ${err.message}`,
                );
            });
        }
    }

    return {
        checkRouting,
        liveObjects,
        volumeUids,
        podUids,
        checkChannelKept,
        outsideTheApp,
        appChanges,
        checkPlanSafe,
        checkAfterUp,
        uids,
    };
}

/** The checks appChecks returns. */
export type AppChecks = ReturnType<typeof appChecks>;
