/**
 * Stack settings, validated. No Pulumi in here: `index.ts` hands over a lookup function backed by
 * pulumi.Config (whose defaults come from Pulumi.yaml), and every bad value stops the program with
 * a message naming the setting, the value and what is valid, before any resource is registered.
 */
import { HelmValues, ISTIO_CHARTS, IstioChart, isHelmValues } from "./istioCharts";
import { STAGE_NAMES, StageName, WorkloadRef } from "./model";
import { TRAFFIC_APIS, TrafficApi } from "./traffic/router";
import { BUILT_WORKLOADS, imageTagKey, PROJECT, workloadName } from "./names";

export const CLUSTER_MODES = ["aks", "kubeconfig"] as const;
export type ClusterMode = (typeof CLUSTER_MODES)[number];

/** Types of the ingress gateway's Service: LoadBalancer on AKS, NodePort or ClusterIP on plain kind. */
export const GATEWAY_SERVICE_TYPES = ["LoadBalancer", "NodePort", "ClusterIP"] as const;
export type GatewayServiceType = (typeof GATEWAY_SERVICE_TYPES)[number];

/**
 * Where Gateway API's CRDs come from (traffic.api=gateway-api): `install` registers the standard
 * channel at the version Istio supports (stages/gatewayApi.ts); `cluster`: the cluster has them
 * already (a managed mesh, or another owner), and the program leaves them alone.
 */
export const GATEWAY_API_CRD_SOURCES = ["install", "cluster"] as const;
export type GatewayApiCrdSource = (typeof GATEWAY_API_CRD_SOURCES)[number];

export interface ImageSettings {
    /** Build app/Dockerfile and push (to a new ACR in aks mode, else to `registry`). */
    build: boolean;
    registry: string;
    /** Tag per Deployment name (voting-app-1-0 -> "1.0"). */
    tags: Record<string, string>;
    redis: string;
    mysql: string;
}

export interface Settings {
    stage: StageName;
    canaryWeight: number;
    appReplicas: number;
    cluster: {
        mode: ClusterMode;
        location: string;
        /** The workload pool (the app and Istio): its VM size, nodes at creation, and the autoscaler's bounds. */
        nodeCount: number;
        nodeVmSize: string;
        minNodeCount: number;
        maxNodeCount: number;
        /** The system pool (AKS's own pods): fixed when the cluster is created. */
        systemNodeCount: number;
        systemNodeVmSize: string;
        kubernetesVersion?: string;
        kubeconfigPath?: string;
        context?: string;
    };
    istio: {
        install: boolean;
        version: string;
        chartRepository: string;
        gatewayName: string;
        gatewayNamespace: string;
        /**
         * The ServiceAccount of a gateway already installed (istio.install=false): its mTLS identity,
         * which the app's AuthorizationPolicies let in. None: the gateway's name, as Istio's chart names it.
         */
        gatewayServiceAccount?: string;
        /** Type of the gateway chart's Service (istio.install=true). */
        gatewayServiceType: GatewayServiceType;
        /**
         * Istio revision whose injector serves the app namespace (the AKS add-on's asm-1-NN):
         * the namespace is labelled istio.io/rev=<revision>; without one, istio-injection=enabled.
         */
        revision?: string;
        /**
         * Extra Helm values per chart, merged over the program's own (objects merge key by key,
         * anything else replaces): webhook URLs for an istiod outside the cluster, a private image
         * hub, resource requests, ...
         */
        values: Record<IstioChart, HelmValues>;
    };
    traffic: {
        api: TrafficApi;
        /** Gateway API's GatewayClass: istio, or the class a managed mesh provides. */
        gatewayClass: string;
        gatewayApiCrds: GatewayApiCrdSource;
        /**
         * Least privilege in the mesh (stages/authorization.ts): deny by default, and each stage's own
         * calls allowed by identity and port. false: the cluster manages policy elsewhere.
         */
        authorization: boolean;
    };
    images: ImageSettings;
    data: {
        /** Pulumi `protect` on the volumes that hold the votes: `pulumi destroy` refuses to run. */
        protect: boolean;
    };
}

export class SettingError extends Error {
    constructor(key: string, value: string | undefined, expected: string) {
        const shown = value === undefined ? "(not set)" : JSON.stringify(value);
        super(`Invalid setting ${PROJECT}:${key} = ${shown}: expected ${expected}.`);
        this.name = "SettingError";
    }
}

/** Returns the raw config value for a key, or undefined when it is not set. */
export type ConfigLookup = (key: string) => string | undefined;

function required(get: ConfigLookup, key: string, expected: string): string {
    const value = get(key);
    if (value === undefined || value.trim() === "") throw new SettingError(key, value, expected);
    return value.trim();
}

function optional(get: ConfigLookup, key: string): string | undefined {
    const value = get(key)?.trim();
    return value ? value : undefined;
}

function integer(get: ConfigLookup, key: string, min: number, max: number): number {
    const expected = max === Infinity ? `an integer >= ${min}` : `an integer from ${min} to ${max}`;
    const raw = required(get, key, expected);
    if (!/^[+-]?\d+$/.test(raw)) throw new SettingError(key, raw, expected);
    const n = Number(raw);
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new SettingError(key, raw, expected);
    return n;
}

function oneOf<T extends string>(get: ConfigLookup, key: string, valid: readonly T[]): T {
    const expected = `one of ${valid.join(", ")}`;
    const raw = required(get, key, expected);
    if (!(valid as readonly string[]).includes(raw)) throw new SettingError(key, raw, expected);
    return raw as T;
}

function boolean(get: ConfigLookup, key: string): boolean {
    const raw = required(get, key, "true or false");
    if (raw === "true") return true;
    if (raw === "false") return false;
    throw new SettingError(key, raw, "true or false");
}

export function parseStage(raw: string | undefined): StageName {
    const expected = `one of ${STAGE_NAMES.join(", ")} (or their numbers 1-${STAGE_NAMES.length})`;
    const value = raw?.trim().toLowerCase();
    if (!value) throw new SettingError("stage", raw, expected);
    if ((STAGE_NAMES as readonly string[]).includes(value)) return value as StageName;
    if (/^[1-9]$/.test(value) && Number(value) <= STAGE_NAMES.length) return STAGE_NAMES[Number(value) - 1];
    throw new SettingError("stage", raw, expected);
}

/** Validates every setting at once, in a fixed order, so the first error is deterministic. */
export function parseSettings(get: ConfigLookup): Settings {
    const stage = parseStage(get("stage"));
    const canaryWeight = integer(get, "canaryWeight", 0, 100);
    const appReplicas = integer(get, "appReplicas", 1, 50);
    const mode = oneOf(get, "cluster.mode", CLUSTER_MODES);
    const cluster: Settings["cluster"] = {
        mode,
        location: required(get, "cluster.location", "an Azure region such as westeurope"),
        nodeCount: integer(get, "cluster.nodeCount", 1, 100),
        nodeVmSize: required(get, "cluster.nodeVmSize", "an Azure VM size such as Standard_D2s_v5"),
        minNodeCount: integer(get, "cluster.minNodeCount", 1, 100),
        maxNodeCount: integer(get, "cluster.maxNodeCount", 1, 100),
        systemNodeCount: integer(get, "cluster.systemNodeCount", 1, 100),
        systemNodeVmSize: required(get, "cluster.systemNodeVmSize", "an Azure VM size such as Standard_D2s_v5"),
        kubernetesVersion: optional(get, "cluster.kubernetesVersion"),
        kubeconfigPath: optional(get, "cluster.kubeconfig"),
        context: optional(get, "cluster.context"),
    };
    if (cluster.minNodeCount > cluster.nodeCount)
        throw new SettingError(
            "cluster.minNodeCount",
            String(cluster.minNodeCount),
            `at most cluster.nodeCount (${cluster.nodeCount}): the autoscaler's lower bound`,
        );
    if (cluster.maxNodeCount < cluster.nodeCount)
        throw new SettingError(
            "cluster.maxNodeCount",
            String(cluster.maxNodeCount),
            `at least cluster.nodeCount (${cluster.nodeCount}): the autoscaler's upper bound`,
        );
    const install = boolean(get, "istio.install");
    const istio: Settings["istio"] = {
        install,
        version: required(get, "istio.version", "an Istio release such as 1.31.4"),
        chartRepository: required(get, "istio.chartRepository", "the URL of Istio's Helm chart repository"),
        gatewayName: required(get, "istio.gatewayName", "the name of the ingress gateway release"),
        gatewayNamespace: required(get, "istio.gatewayNamespace", "a namespace name"),
        gatewayServiceAccount: optional(get, "istio.gatewayServiceAccount"),
        gatewayServiceType: oneOf(get, "istio.gatewayServiceType", GATEWAY_SERVICE_TYPES),
        revision: optional(get, "istio.revision"),
        values: istioValues(get, install),
    };
    if (!/^\d+\.\d+\.\d+$/.test(istio.version)) {
        throw new SettingError("istio.version", istio.version, "an Istio release such as 1.31.4");
    }
    if (istio.revision !== undefined) {
        const expected =
            "a revision name such as asm-1-30 (lower-case letters, digits and '-'), or empty for istio-injection=enabled";
        if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(istio.revision))
            throw new SettingError("istio.revision", istio.revision, expected);
        if (install) {
            throw new SettingError(
                "istio.revision",
                istio.revision,
                "empty while istio.install=true (the program installs Istio's default revision; a revision is for a mesh already installed, such as the AKS add-on, with istio.install=false)",
            );
        }
    }
    const traffic: Settings["traffic"] = {
        api: oneOf(get, "traffic.api", TRAFFIC_APIS),
        gatewayClass: required(get, "traffic.gatewayClass", "a GatewayClass name such as istio"),
        gatewayApiCrds: oneOf(get, "traffic.gatewayApiCrds", GATEWAY_API_CRD_SOURCES),
        authorization: boolean(get, "traffic.authorization"),
    };
    if (istio.gatewayServiceAccount !== undefined) {
        if (install)
            throw new SettingError(
                "istio.gatewayServiceAccount",
                istio.gatewayServiceAccount,
                "empty while istio.install=true (the program's gateway runs under the account its chart makes; set istio.values.gateway.serviceAccount.name to rename it)",
            );
        if (!/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(istio.gatewayServiceAccount))
            throw new SettingError(
                "istio.gatewayServiceAccount",
                istio.gatewayServiceAccount,
                "a ServiceAccount name (lower-case letters, digits, '-' and '.'), or empty for the gateway's name",
            );
    }
    if (!/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(traffic.gatewayClass))
        throw new SettingError(
            "traffic.gatewayClass",
            traffic.gatewayClass,
            "a GatewayClass name such as istio (lower-case letters, digits, '-' and '.')",
        );
    if (traffic.api === "gateway-api" && istio.revision && /^asm-\d+-\d+$/.test(istio.revision))
        throw new SettingError(
            "traffic.api",
            traffic.api,
            `istio while istio.revision is the AKS Istio add-on's (${istio.revision}): the add-on takes Gateway API at the ingress only, and from lockdown on the stages route inside the mesh (app -> analytics); install Istio with the program (istio.install=true) to use gateway-api`,
        );
    const tags: Record<string, string> = {};
    for (const ref of BUILT_WORKLOADS) {
        tags[workloadName(ref)] = required(get, imageTagKey(ref), "an image tag");
    }
    const images: ImageSettings = {
        build: boolean(get, "images.build"),
        registry: required(get, "images.registry", "a container registry such as myregistry.azurecr.io").replace(
            /\/+$/,
            "",
        ),
        tags,
        redis: required(get, "images.redis", "a Redis image reference"),
        mysql: required(get, "images.mysql", "a MySQL 8 image reference"),
    };
    for (const [key, value] of [
        ["images.redis", images.redis],
        ["images.mysql", images.mysql],
        ["images.registry", images.registry],
    ]) {
        if (/mcr\.microsoft\.com\/aks\/samples\/voting/.test(value)) {
            throw new SettingError(
                key,
                value,
                "an image that exists: the walkthrough's mcr.microsoft.com/aks/samples/voting images were deleted in 2023",
            );
        }
    }
    if (cluster.mode === "aks" && !images.build && isLoopbackRegistry(images.registry)) {
        throw new SettingError(
            "images.registry",
            images.registry,
            "a registry AKS nodes can pull from (such as myregistry.azurecr.io) when images.build=false: a loopback registry is the kind default, and AKS would end in ImagePullBackOff",
        );
    }
    const data = { protect: boolean(get, "data.protect") };
    return { stage, canaryWeight, appReplicas, cluster, istio, traffic, images, data };
}

/**
 * istio.values: an object keyed by chart (base, istiod, gateway), each an object of Helm values;
 * given as structured config (`pulumi config set --path istio.values.istiod.env.X 1`) or as
 * a JSON string. Null is refused: before Kubernetes provider 4.30 a null value is dropped, from
 * 4.30 on it removes the chart's default, so it would mean different things to different users.
 */
function istioValues(get: ConfigLookup, install: boolean): Record<IstioChart, HelmValues> {
    const key = "istio.values";
    const expected = `an object keyed by chart (${ISTIO_CHARTS.join(", ")}), each an object of Helm values, e.g. {"istiod":{"env":{"PILOT_TRACE_SAMPLING":"1"}}}`;
    const values = Object.fromEntries(ISTIO_CHARTS.map((chart) => [chart, {}])) as Record<IstioChart, HelmValues>;
    const raw = optional(get, key);
    if (raw === undefined) return values;
    let parsed: unknown;
    try {
        parsed = JSON.parse(raw);
    } catch {
        throw new SettingError(key, raw, expected);
    }
    if (!isHelmValues(parsed)) throw new SettingError(key, raw, expected);
    for (const [chart, chartValues] of Object.entries(parsed)) {
        if (!(ISTIO_CHARTS as readonly string[]).includes(chart))
            throw new SettingError(
                `${key}.${chart}`,
                JSON.stringify(chartValues),
                `no such chart: the charts are ${ISTIO_CHARTS.join(", ")}`,
            );
        if (!isHelmValues(chartValues))
            throw new SettingError(`${key}.${chart}`, JSON.stringify(chartValues), "an object of Helm values");
        const nullAt = findNull(chartValues, `${key}.${chart}`);
        if (nullAt)
            throw new SettingError(
                nullAt,
                "null",
                "a value (null is refused: Kubernetes provider releases before 4.30 drop it, later ones remove the chart's default)",
            );
        values[chart as IstioChart] = chartValues;
    }
    if (!install && Object.values(values).some((v) => Object.keys(v).length > 0)) {
        throw new SettingError(
            key,
            raw,
            "empty while istio.install=false (the values are for the charts this program installs)",
        );
    }
    return values;
}

function findNull(value: unknown, at: string): string | undefined {
    if (value === null) return at;
    if (Array.isArray(value)) return value.map((v, i) => findNull(v, `${at}[${i}]`)).find(Boolean);
    if (isHelmValues(value))
        return Object.entries(value)
            .map(([k, v]) => findNull(v, `${at}.${k}`))
            .find(Boolean);
    return undefined;
}

/**
 * localhost:5001, 127.0.0.1:5000, [::1]:5000: registries (or hosts) only the machine itself can
 * reach; not 127.0.0.1.example.com. Also where a token may go without TLS (stages/acrToken.ts).
 */
export function isLoopbackRegistry(registry: string): boolean {
    const host = registry.split("/")[0].replace(/:\d+$/, "").toLowerCase();
    return host === "localhost" || host.endsWith(".localhost") || /^127(\.\d{1,3}){3}$/.test(host) || host === "[::1]";
}

/** The image a workload runs: <registry>/<component>:<tag> when built, else the Redis or MySQL image. */
export function imageOf(images: ImageSettings, ref: WorkloadRef): string {
    if (ref.component === "voting-storage") return ref.version === "1.0" ? images.redis : images.mysql;
    return `${images.registry}/${ref.component}:${images.tags[workloadName(ref)]}`;
}
