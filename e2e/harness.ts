/**
 * What the end-to-end suites share (e2e/walk.e2e.ts, e2e/interrupted.e2e.ts): the target and its
 * settings, the stage table's objects as the cluster lists them, the cluster prepared for a
 * suite's stack (its stand-ins, Istio in the loop). The checks on what an `up` left in the cluster
 * are e2e/appChecks.ts.
 */
import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import { objectLabel } from "../mock/changes";
import { EXPECTED, FORWARD, forwardIn, inTrafficApi } from "../test/support/expected";
import { ChartRepository, rigChartRepository } from "../test/support/chartRepository";
import {
    installGatewayStandIn,
    installIstioCrds,
    installVolumes,
    serveFolder,
    standInLoadBalancer,
} from "./clusterSetup";
import { PlannedStep } from "./engineSteps";
import { LoopbackIstiod, PILOT_DISCOVERY, webhookValues } from "./istiod";
import { KubeClient, KubeObject } from "./kube";
import { ROOT } from "./stackProgram";
import { GATEWAY_API_CRDS_FILE, GatewayApiChannelFile } from "../stages/gatewayApi";
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
