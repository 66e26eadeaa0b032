/**
 * Route cases for Istio's own config generator (tools/istio/routes, a Go test): each case is the
 * Kubernetes and Istio objects of one state of the cluster, as Istio's registry would see them,
 * plus what users' requests and the app's own calls must reach there.
 *
 * The objects are the ones the program registers (mock/runProgram.ts, the path `pulumi up` takes),
 * with either traffic API (traffic.api: Istio's Gateway, VirtualServices and DestinationRules, or
 * Kubernetes Gateway API's Gateway, HTTPRoutes and per-version Services; mid-switch, both),
 * completed with what Kubernetes, the charts and istiod add in a cluster: one running Pod per
 * Deployment (from its template), EndpointSlices as Kubernetes' endpointslice controller makes
 * them, the ingress gateway's Service and Pod as Istio's gateway chart makes them, and (where
 * Gateway API objects are) the GatewayClass `istio` istiod's gatewayclass controller makes.
 * Istio's objects go to its config store (`istio`); Gateway API's, like Services and Pods, to the
 * fake Kubernetes API (`kubernetes`), where Istio's gateway controller reads them.
 *
 * The expectations come from test/support/expected.ts (ROUTES, NO_FLAG, FLAG) and stages/model.ts
 * (STORAGE_OF, STORAGE_ENGINES, each stage's mesh routes): nothing is restated here, and they are
 * the same for both APIs. Only the Envoy cluster that serves a mesh route depends on the API (a
 * subset's, or a per-version Service's: `expectedCalls`); the version of the pods it reaches does not.
 */
import * as fs from "fs";
import * as path from "path";
import { appObjects, asKubernetesObject, inNamespace, KubernetesObject, ProgramRun } from "../../mock/runProgram";
import { toYaml } from "../../cmd/render";
import {
    Component,
    STORAGE_ENGINES,
    STORAGE_OF,
    StageName,
    Version,
    planStage,
    stageByName,
    subsetName,
} from "../../stages/model";
import { AllowedCall, callerName, principalOf } from "../../stages/authorization";
import { gatewayServiceAccountName } from "../../stages/istioCharts";
import {
    APP_NAMESPACE,
    APP_PORT,
    APP_VERSION_HEADER,
    buildArgsOf,
    DEFAULT_GATEWAY,
    workloadName,
} from "../../stages/names";
import { GATEWAY_API_CRDS_FILE, GatewayApiChannelFile } from "../../stages/gatewayApi";
import { TrafficApi, trafficRouter } from "../../stages/traffic";
import { Chain, FLAG, NO_FLAG, ROUTES } from "./expected";
import { storageSettingsOf } from "./mesh";
import { CHART_GATEWAY_SERVICE_PORTS, chartGatewayPodLabels } from "./runs";

/** Kinds that go to Istio's Kubernetes registry (the fake API server) and to its config store. */
const KUBE_KINDS = new Set(["Namespace", "Service"]);
const ISTIO_KINDS = new Set([
    "Gateway",
    "VirtualService",
    "DestinationRule",
    "PeerAuthentication",
    "AuthorizationPolicy",
]);
/** API groups of Istio's config store (a Gateway of another group is Gateway API's). */
const ISTIO_GROUPS = new Set(["networking.istio.io", "security.istio.io"]);
/** Kubernetes Gateway API: read by Istio's gateway controller from the Kubernetes API, like Services. */
const GATEWAY_API_GROUP = "gateway.networking.k8s.io";

const groupOf = (o: KubernetesObject) => (o.apiVersion.includes("/") ? o.apiVersion.split("/")[0] : "");
const isIstioConfig = (o: KubernetesObject) => ISTIO_GROUPS.has(groupOf(o)) && ISTIO_KINDS.has(o.kind);
export const isGatewayApi = (o: KubernetesObject) => groupOf(o) === GATEWAY_API_GROUP;

/** The OpenAPI schema of each served version of the vendored Gateway API CRDs, by "group/version/Kind". */
let crdSchemas: Map<string, any> | undefined;
function crdSchema(o: KubernetesObject): any {
    if (!crdSchemas) {
        crdSchemas = new Map();
        const file = path.join(__dirname, "..", "..", GATEWAY_API_CRDS_FILE);
        const channel = JSON.parse(fs.readFileSync(file, "utf8")) as GatewayApiChannelFile;
        for (const crd of channel.objects as any[]) {
            if (crd.kind !== "CustomResourceDefinition") continue;
            for (const v of crd.spec.versions)
                if (v.served)
                    crdSchemas.set(`${crd.spec.group}/${v.name}/${crd.spec.names.kind}`, v.schema.openAPIV3Schema);
        }
    }
    const schema = crdSchemas.get(`${o.apiVersion}/${o.kind}`);
    if (!schema) throw new Error(`no served CRD version for ${o.apiVersion} ${o.kind} in ${GATEWAY_API_CRDS_FILE}`);
    return schema;
}

/**
 * The defaults the API server writes into a custom resource from its CRD's structural schema
 * (k8s.io/apiextensions-apiserver's defaulting algorithm): a property with a `default` that the
 * object lacks (or holds as null) gets it, then every property, item and additional property is
 * defaulted in turn. An HTTPRoute rule without `matches` is stored with the PathPrefix "/" match,
 * a match without `path` with that path: Istio's gateway controller reads objects as stored, and
 * relies on these (the fake Kubernetes API applies no CRD defaults).
 */
function withDefaults(value: any, schema: any): any {
    if (!schema || value === null || typeof value !== "object") return value;
    if (Array.isArray(value)) return value.map((item) => withDefaults(item, schema.items));
    const out: Record<string, any> = { ...value };
    const nullable = (prop: any) => prop.nullable === true;
    for (const [key, prop] of Object.entries<any>(schema.properties ?? {})) {
        if (prop.default === undefined) continue;
        if (!(key in out) || out[key] === undefined || (out[key] === null && !nullable(prop)))
            out[key] = structuredClone(prop.default);
    }
    for (const key of Object.keys(out)) {
        if (out[key] === undefined) {
            delete out[key];
            continue;
        }
        const prop = schema.properties?.[key];
        if (prop) out[key] = withDefaults(out[key], prop);
        else if (schema.additionalProperties && typeof schema.additionalProperties === "object")
            out[key] = withDefaults(out[key], schema.additionalProperties);
    }
    return out;
}

/** A Gateway API object as the API server stores it: its CRD's defaults applied. */
export function asStored(o: KubernetesObject): KubernetesObject {
    return withDefaults(o, crdSchema(o)) as KubernetesObject;
}

/**
 * The objects of one state that a case holds: the app namespace's (and the namespace), and Gateway
 * API's objects wherever they are (a Gateway bound to the gateway Service may live in its namespace).
 */
export function caseObjects(objects: KubernetesObject[]): KubernetesObject[] {
    const app = inNamespace(objects);
    return [...app, ...objects.filter((o) => isGatewayApi(o) && !app.includes(o))];
}

/** caseObjects of what a run registers (appObjects, in its order, then any other Gateway API object). */
export function caseObjectsOf(run: ProgramRun): KubernetesObject[] {
    const app = appObjects(run);
    const all = run.resources.map(asKubernetesObject).filter((o): o is KubernetesObject => o !== undefined);
    return [...app, ...caseObjects(all).filter((o) => !app.includes(o))];
}

/**
 * The GatewayClass `istio`, as istiod's gatewayclass controller makes it in a cluster where Gateway
 * API's CRDs are installed (the program registers no GatewayClass; its Gateway names this one).
 * Istio would also accept the built-in class without the object; the cluster has it, so the case has it.
 */
const ISTIO_GATEWAY_CLASS = (): KubernetesObject =>
    asStored({
        apiVersion: `${GATEWAY_API_GROUP}/v1`,
        kind: "GatewayClass",
        metadata: { name: "istio" },
        spec: {
            controllerName: "istio.io/gateway-controller",
            description: "The default Istio GatewayClass",
        },
    });

export interface ChainShare extends Chain {
    /** Percent of requests. */
    share: number;
}

/** One Deployment's single Pod, and the calls the app contract makes it open. */
export interface Workload {
    deployment: string;
    component: string;
    version: string;
    podName: string;
    podIP: string;
    labels: Record<string, string>;
    /** Its mTLS identity: spiffe://cluster.local/ns/<namespace>/sa/<its pod template's ServiceAccount>. */
    principal: string;
    /**
     * HTTP calls to analytics (voting-app only): ANALYTICS_HOST / ANALYTICS_PORT, with the headers
     * the app contract adds to every such call (app/src/app.ts: APP_VERSION_HEADER, its own version).
     */
    analytics?: { host: string; port: number; headers: Record<string, string> };
    /** The store it opens: REDIS_HOST/REDIS_PORT or MYSQL_HOST/MYSQL_PORT. */
    storage?: { host: string; port: number; engine: string };
}

export interface ServiceInfo {
    name: string;
    namespace: string;
    clusterIP: string;
    ports: number[];
}

/**
 * A mesh route of the stage (stages/model.ts): `from`'s calls to `host:port` reach pods of `version`
 * ("" = the plain Service's round robin, any version), through one of `clusters`: the Envoy cluster
 * of the version's backend in the case's traffic API (outbound|8080|v1-1|voting-analytics.voting...
 * for a DestinationRule subset, outbound|8080||voting-analytics-v1-1.voting... for a per-version
 * Service, the plain Service's where the API routes none, as Gateway API for storage); mid-switch
 * between the APIs, either API's.
 */
export interface ExpectedCall {
    from: string;
    kind: "analytics" | "storage";
    host: string;
    port: number;
    version: string;
    clusters: string[];
}

/** One call for the callee's RBAC filters (Istio's AuthorizationPolicies, as Envoy gets them). */
export interface AuthzCall {
    /** The caller: a Deployment, the ingress gateway, or the vote carry's Job (carry-votes). */
    from: string;
    principal: string;
    /** The callee's Deployment (its pod in the case). */
    to: string;
    port: number;
    protocol: "http" | "tcp";
}

export interface RouteCase {
    name: string;
    description: string;
    kind: "stage" | "transition" | "api-switch" | "control";
    /** Multi-document YAML for Istio's fake Kubernetes registry (xds.FakeOptions.KubernetesObjectString). */
    kubernetes: string;
    /** Multi-document YAML of the Istio objects (xds.FakeOptions.ConfigString). */
    istio: string;
    ingress: {
        namespace: string;
        serviceName: string;
        podName: string;
        podIP: string;
        labels: Record<string, string>;
        port: number;
        /** Host header users send (the stack's ingress address; the Gateway and VirtualService accept "*"). */
        host: string;
        /** The gateway pods' mTLS identity (the ServiceAccount Istio's gateway chart gives them). */
        principal: string;
    };
    services: ServiceInfo[];
    workloads: Workload[];
    /** Cookie headers to send (null: no Cookie header). */
    cookies: { withoutFlag: (string | null)[]; withFlag: (string | null)[] };
    expect: {
        /** Chains users reach (stage cases only). */
        users?: { withoutFlag: ChainShare[]; withFlag: ChainShare[] };
        /** Every app and analytics Deployment reaches its own engine's storage version on its port. */
        storageClients: { client: string; port: number; version: string }[];
        /** Each stage's service-to-service routes (stage and api-switch cases): which version and cluster serve the call. */
        calls?: ExpectedCall[];
        /**
         * The sticky weighted canary (stage cases only): for each Cookie header, the chains reached
         * and the canary cookie the response sets per app version ("" none), test/support/expected.ts.
         */
        sticky?: { cookie: string; chains: ChainShare[]; setCookie: Record<string, string> }[];
        /** Mid-transition states: a request's chain stays within one major version (test/transitions.test.ts). */
        chainsDoNotCross?: boolean;
        /**
         * Least privilege (traffic.authorization; none where the case holds no AuthorizationPolicy):
         * every call a route or a client makes in the case must pass the callee's RBAC filters, and so
         * must `allowed`; every call of `denied` must be refused.
         */
        authorization?: { allowed: AuthzCall[]; denied: AuthzCall[] };
    };
    /**
     * Control cases: what was removed from which case; the checker must report at least one
     * problem of the category `detectedAs` (undefined-cluster, no-endpoints, no-match, users,
     * storage, call-backend, crossing).
     */
    control?: { basedOn: string; removed: string; detectedAs: string };
    expectFailure: boolean;
    /** Other states (of other transitions, or other orders of the same steps) with exactly these objects and expectations. */
    alsoCovers?: string[];
}

const INGRESS_IP_FALLBACK = "203.0.113.10";

/** Stable addresses for the whole generator run: the same object gets the same address in every case. */
class Addresses {
    private readonly assigned = new Map<string, string>();
    private next = { service: 10, pod: 10, gateway: 10 };
    constructor(private readonly prefix: { service: string; pod: string; gateway: string }) {}
    of(kind: "service" | "pod" | "gateway", key: string): string {
        const k = `${kind}/${key}`;
        let ip = this.assigned.get(k);
        if (!ip) {
            ip = `${this.prefix[kind]}.${this.next[kind]++}`;
            this.assigned.set(k, ip);
        }
        return ip;
    }
}

export const addresses = new Addresses({ service: "10.96.0", pod: "10.244.0", gateway: "10.244.1" });

export interface GatewayRelease {
    name: string;
    namespace: string;
}

/** The gateway release the run installs (name and namespace), or Pulumi.yaml's defaults. */
export function gatewayReleaseOf(run: ProgramRun): GatewayRelease {
    const release = run.resources.find(
        (r) => r.type === "kubernetes:helm.sh/v3:Release" && r.inputs.chart === "gateway",
    );
    return {
        name: typeof release?.inputs.name === "string" ? release.inputs.name : DEFAULT_GATEWAY.name,
        namespace: typeof release?.inputs.namespace === "string" ? release.inputs.namespace : DEFAULT_GATEWAY.namespace,
    };
}

/** The host users type: the stack's ingressUrl output. */
export function ingressHostOf(run: ProgramRun): string {
    const url = run.outputs.ingressUrl;
    if (typeof url === "string" && /^https?:\/\//.test(url)) return new URL(url).host;
    return INGRESS_IP_FALLBACK;
}

const matches = (selector: Record<string, string> | undefined, labels: Record<string, string>) =>
    selector !== undefined && Object.entries(selector).every(([k, v]) => labels[k] === v);

interface PodObject extends KubernetesObject {
    spec: {
        containers: {
            name: string;
            image?: string;
            ports?: { name?: string; containerPort: number; protocol?: string }[];
        }[];
    };
}

/**
 * A running, ready Pod from a Deployment's template. In a namespace with sidecar injection, the
 * injector adds `security.istio.io/tlsMode: istio` and the canonical service labels; the routing
 * labels (app, version) are the template's.
 */
function podOf(deployment: KubernetesObject, namespaceLabels: Record<string, string>): PodObject {
    const template = deployment.spec.template;
    const labels: Record<string, string> = { ...(template.metadata?.labels ?? {}) };
    const injected = namespaceLabels["istio-injection"] === "enabled" || namespaceLabels["istio.io/rev"] !== undefined;
    if (injected && template.metadata?.annotations?.["sidecar.istio.io/inject"] !== "false") {
        labels["security.istio.io/tlsMode"] ??= "istio";
        labels["service.istio.io/canonical-name"] ??=
            labels["app.kubernetes.io/name"] ?? labels.app ?? deployment.metadata.name;
        labels["service.istio.io/canonical-revision"] ??=
            labels["app.kubernetes.io/version"] ?? labels.version ?? "latest";
    }
    const name = `${deployment.metadata.name}-0`;
    const podIP = addresses.of("pod", `${deployment.metadata.namespace}/${name}`);
    return {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name, namespace: deployment.metadata.namespace, labels },
        spec: {
            containers: (template.spec.containers ?? []).map((c: any) => ({
                name: c.name,
                image: c.image,
                ...(c.ports
                    ? {
                          ports: c.ports.map((p: any) => ({
                              ...(p.name ? { name: p.name } : {}),
                              containerPort: p.containerPort,
                              protocol: p.protocol ?? "TCP",
                          })),
                      }
                    : {}),
            })),
            serviceAccountName: template.spec.serviceAccountName ?? "default",
        },
        status: {
            phase: "Running",
            podIP,
            podIPs: [{ ip: podIP }],
            conditions: [
                { type: "Ready", status: "True" },
                { type: "ContainersReady", status: "True" },
            ],
        },
    } as PodObject;
}

/** The container port a Service port's targetPort names in this pod (Kubernetes' podutil.FindPort). */
function findPort(pod: PodObject, servicePort: any): number | undefined {
    const target = servicePort.targetPort ?? servicePort.port;
    if (typeof target === "number") return target;
    if (/^\d+$/.test(String(target))) return Number(target);
    for (const c of pod.spec.containers) {
        for (const p of c.ports ?? [])
            if (p.name === target && (p.protocol ?? "TCP") === (servicePort.protocol ?? "TCP")) return p.containerPort;
    }
    return undefined;
}

/**
 * EndpointSlices as Kubernetes' endpointslice controller makes them: the ready pods the selector
 * picks, each with the ports its own containers resolve (a named targetPort the pod lacks is left
 * out for that pod), pods grouped by that port set into one slice each. A Service that selects no
 * pod gets the controller's placeholder slice.
 */
function endpointSlicesOf(service: KubernetesObject, pods: PodObject[]): KubernetesObject[] {
    const selected = pods.filter(
        (p) =>
            p.metadata.namespace === service.metadata.namespace &&
            matches(service.spec.selector, p.metadata.labels ?? {}),
    );
    const groups = new Map<string, { ports: any[]; pods: PodObject[] }>();
    for (const pod of selected) {
        const ports: any[] = [];
        for (const sp of service.spec.ports ?? []) {
            const port = findPort(pod, sp);
            if (port === undefined) continue;
            ports.push({
                name: sp.name ?? "",
                port,
                protocol: sp.protocol ?? "TCP",
                ...(sp.appProtocol ? { appProtocol: sp.appProtocol } : {}),
            });
        }
        const key = JSON.stringify(ports);
        const group = groups.get(key) ?? { ports, pods: [] };
        group.pods.push(pod);
        groups.set(key, group);
    }
    const base = (i: number) => ({
        apiVersion: "discovery.k8s.io/v1",
        kind: "EndpointSlice",
        metadata: {
            name: `${service.metadata.name}-${i}`,
            namespace: service.metadata.namespace,
            labels: {
                "kubernetes.io/service-name": service.metadata.name,
                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
            },
        },
        addressType: "IPv4",
    });
    if (groups.size === 0) return [{ ...base(0), endpoints: [] } as KubernetesObject];
    return [...groups.values()].map(
        (g, i) =>
            ({
                ...base(i),
                ports: g.ports,
                endpoints: g.pods.map((pod) => ({
                    addresses: [pod.status.podIP],
                    conditions: { ready: true, serving: true, terminating: false },
                    targetRef: { kind: "Pod", name: pod.metadata.name, namespace: pod.metadata.namespace },
                })),
            }) as KubernetesObject,
    );
}

function envOf(deployment: KubernetesObject): Record<string, string> {
    const env: Record<string, string> = {};
    for (const e of deployment.spec.template.spec.containers[0]?.env ?? [])
        if (typeof e.value === "string") env[e.name] = e.value;
    return env;
}

/**
 * toYaml of a list of objects, each object's document written once per generator run: the states
 * of a transition share most of their objects (the same text as toYaml(objects)).
 */
const yamlCache = new Map<string, string>();
function yamlOf(objects: KubernetesObject[]): string {
    return objects
        .map((o) => {
            const key = JSON.stringify(o);
            let text = yamlCache.get(key);
            if (text === undefined) {
                text = toYaml([o]);
                yamlCache.set(key, text);
            }
            return text;
        })
        .join("---\n");
}

export interface StateOptions {
    /** Deployments that get no Pod (a control: a subset whose pods are gone). */
    withoutPods?: string[];
}

interface BuiltState {
    kubernetes: string;
    istio: string;
    ingress: RouteCase["ingress"];
    services: ServiceInfo[];
    workloads: Workload[];
}

/**
 * The objects of one state (`caseObjects`: the app namespace's, see `inNamespace` in mock/runProgram.ts, and Gateway
 * API's) as Istio's registry and config store see them.
 */
export function buildState(
    objects: KubernetesObject[],
    gateway: GatewayRelease,
    host: string,
    options: StateOptions = {},
): BuiltState {
    const namespaces = objects.filter((o) => o.kind === "Namespace");
    if (namespaces.some((n) => n.metadata.name === gateway.namespace))
        throw new Error(`buildState: give the app namespace's objects only (found Namespace ${gateway.namespace})`);
    const nsLabels = (ns: string) => namespaces.find((n) => n.metadata.name === ns)?.metadata.labels ?? {};
    const deployments = objects.filter(
        (o) =>
            o.kind === "Deployment" &&
            (o.spec.replicas ?? 1) > 0 &&
            !(options.withoutPods ?? []).includes(o.metadata.name),
    );
    const pods = deployments.map((d) => podOf(d, nsLabels(d.metadata.namespace!)));
    const services = objects
        .filter((o) => o.kind === "Service")
        .map((s) => ({
            ...s,
            spec: {
                ...s.spec,
                clusterIP: addresses.of("service", `${s.metadata.namespace}/${s.metadata.name}`),
                type: s.spec.type ?? "ClusterIP",
            },
        }));

    // The ingress gateway as the gateway chart makes it: its Service selects the pod labels
    // without the injection label, and the chart's Service ports.
    const podLabels = chartGatewayPodLabels(gateway.name);
    const { ["sidecar.istio.io/inject"]: _inject, ...gatewaySelector } = podLabels;
    const gatewayPodName = `${gateway.name}-0`;
    const gatewayPodIP = addresses.of("gateway", `${gateway.namespace}/${gatewayPodName}`);
    const gatewayNamespace: KubernetesObject = {
        apiVersion: "v1",
        kind: "Namespace",
        metadata: { name: gateway.namespace },
    };
    const gatewayService: KubernetesObject = {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: gateway.name, namespace: gateway.namespace, labels: { ...gatewaySelector } },
        spec: {
            type: "LoadBalancer",
            clusterIP: addresses.of("service", `${gateway.namespace}/${gateway.name}`),
            selector: gatewaySelector,
            ports: CHART_GATEWAY_SERVICE_PORTS,
        },
    };
    const gatewayPod: PodObject = {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: gatewayPodName, namespace: gateway.namespace, labels: podLabels },
        spec: {
            containers: [
                {
                    name: "istio-proxy",
                    image: "auto",
                    ports: [{ name: "http-envoy-prom", containerPort: 15090, protocol: "TCP" }],
                },
            ],
            serviceAccountName: gatewayServiceAccountName(gateway.name),
        },
        status: {
            phase: "Running",
            podIP: gatewayPodIP,
            podIPs: [{ ip: gatewayPodIP }],
            conditions: [
                { type: "Ready", status: "True" },
                { type: "ContainersReady", status: "True" },
            ],
        },
    } as PodObject;

    const allPods = [...pods, gatewayPod];
    const allServices = [...services, gatewayService];
    const gatewayApi = objects.filter(isGatewayApi).map(asStored);
    const kube: KubernetesObject[] = [
        ...namespaces.filter((o) => KUBE_KINDS.has(o.kind)),
        gatewayNamespace,
        ...allServices,
        ...allPods,
        ...allServices.flatMap((s) => endpointSlicesOf(s, allPods)),
        ...(gatewayApi.length > 0 ? [ISTIO_GATEWAY_CLASS(), ...gatewayApi] : []),
    ];
    const istio = objects.filter(isIstioConfig);

    const podByDeployment = new Map(deployments.map((d, i) => [d.metadata.name, pods[i]]));
    const workloads: Workload[] = deployments.map((d) => {
        const pod = podByDeployment.get(d.metadata.name)!;
        const env = envOf(d);
        const storage = storageSettingsOf({ env });
        const template = d.spec.template.metadata.labels as Record<string, string>;
        return {
            deployment: d.metadata.name,
            component: template.app,
            version: template.version,
            podName: pod.metadata.name,
            podIP: pod.status.podIP,
            labels: pod.metadata.labels ?? {},
            principal: spiffe(d.metadata.namespace!, (pod.spec as any).serviceAccountName),
            ...(env.ANALYTICS_HOST
                ? {
                      analytics: {
                          host: env.ANALYTICS_HOST,
                          port: Number(env.ANALYTICS_PORT),
                          headers: analyticsHeaders(template.app as Component, template.version as Version),
                      },
                  }
                : {}),
            ...(storage.host ? { storage: { host: storage.host, port: storage.port, engine: storage.engine } } : {}),
        };
    });

    return {
        kubernetes: yamlOf(kube),
        istio: yamlOf(istio),
        ingress: {
            namespace: gateway.namespace,
            serviceName: gateway.name,
            podName: gatewayPodName,
            podIP: gatewayPodIP,
            labels: podLabels,
            port: 80,
            host,
            principal: spiffe(gateway.namespace, gatewayServiceAccountName(gateway.name)),
        },
        services: allServices.map((s) => ({
            name: s.metadata.name,
            namespace: s.metadata.namespace!,
            clusterIP: s.spec.clusterIP,
            ports: (s.spec.ports ?? []).map((p: any) => p.port),
        })),
        workloads,
    };
}

const spiffe = (namespace: string, account: string) => `spiffe://cluster.local/ns/${namespace}/sa/${account}`;

/** The port a workload's pods take calls on, and its protocol: the app's HTTP port, or its engine's. */
function calleePort(w: Workload): { port: number; protocol: "http" | "tcp" } {
    if (w.component === "voting-storage")
        return { port: STORAGE_ENGINES[w.version as "1.0" | "2.0"].port, protocol: "tcp" };
    return { port: APP_PORT, protocol: "http" };
}

/**
 * What a state's RBAC must do (undefined where it holds no AuthorizationPolicy): allow `allowed`
 * (the calls of the stage model, stages/authorization.ts allowedCalls, whose callee runs here) and
 * refuse every other call any caller here (the ingress gateway, every workload, the vote carry)
 * could make to any workload here, except the calls of `tolerated` (mid-transition: the calls of
 * either stage, which the state may or may not allow yet).
 */
export function expectedAuthorization(
    objects: KubernetesObject[],
    state: { workloads: Workload[]; ingress: RouteCase["ingress"] },
    allowed: AllowedCall[],
    tolerated: AllowedCall[] = allowed,
): RouteCase["expect"]["authorization"] {
    if (!objects.some((o) => o.kind === "AuthorizationPolicy")) return undefined;
    const gatewayAccount = state.ingress.principal.split("/sa/")[1];
    const asCall = (c: AllowedCall): AuthzCall => ({
        from: callerName(c.from),
        principal: `spiffe://${principalOf(c.from, APP_NAMESPACE, { namespace: state.ingress.namespace, serviceAccount: gatewayAccount })}`,
        to: workloadName(c.to),
        port: c.port,
        protocol: c.protocol,
    });
    const present = new Set(state.workloads.map((w) => w.deployment));
    const key = (c: Pick<AuthzCall, "from" | "to" | "port">) => `${c.from} -> ${c.to}:${c.port}`;
    const expectedAllowed = allowed.map(asCall).filter((c) => present.has(c.to));
    const toleratedKeys = new Set(tolerated.map(asCall).map(key));
    const callers: Pick<AuthzCall, "from" | "principal">[] = [
        { from: "ingress-gateway", principal: state.ingress.principal },
        ...state.workloads.map((w) => ({ from: w.deployment, principal: w.principal })),
        { from: "carry-votes", principal: spiffe(APP_NAMESPACE, "carry-votes") },
    ];
    const denied = callers.flatMap((caller) =>
        state.workloads
            .filter((callee) => callee.deployment !== caller.from)
            .map((callee) => ({ ...caller, to: callee.deployment, ...calleePort(callee) }))
            .filter((c) => !toleratedKeys.has(key(c))),
    );
    return { allowed: expectedAllowed, denied };
}

/**
 * The headers the app adds to every call to analytics (app/src/app.ts, fetchAnalyticsText): its own
 * version, which the app reads from the image's VERSION build argument (stages/names.ts buildArgsOf).
 */
function analyticsHeaders(component: Component, version: Version): Record<string, string> {
    return { [APP_VERSION_HEADER]: buildArgsOf({ component, version }).VERSION };
}

/** Every app and analytics Deployment of a state reaches its own engine (stages/model.ts STORAGE_OF, STORAGE_ENGINES). */
export function storageClientsOf(objects: KubernetesObject[]): RouteCase["expect"]["storageClients"] {
    return objects
        .filter((o) => o.kind === "Deployment" && (o.spec.replicas ?? 1) > 0)
        .flatMap((d) => {
            const { app, version } = d.spec.template.metadata.labels as { app: string; version: Version };
            if (app !== "voting-app" && app !== "voting-analytics") return [];
            const storage = STORAGE_OF[app][version];
            if (!storage) throw new Error(`${d.metadata.name}: STORAGE_OF has no storage for ${app} ${version}`);
            return [{ client: d.metadata.name, port: STORAGE_ENGINES[storage].port, version: storage }];
        });
}

/**
 * Users' chains at a stage (ROUTES). The canary stage's canaryWeight moves that percent of
 * unflagged users from the default chain onto the flagged one (ROUTES.canary is weight 0).
 */
export function expectedUsers(
    stage: StageName,
    canaryWeight: number,
): { withoutFlag: ChainShare[]; withFlag: ChainShare[] } {
    const routes = ROUTES[stage];
    const toShares = (chains: [Chain, number][]) => chains.map(([c, share]) => ({ ...c, share }));
    const weight = stageByName(stage).weightedCanary ? canaryWeight : 0;
    const merged = new Map<string, ChainShare>();
    const add = (chains: [Chain, number][], factor: number) => {
        for (const [c, share] of chains) {
            const key = JSON.stringify(c);
            const part = (share * factor) / 100;
            if (part === 0) continue;
            const existing = merged.get(key);
            if (existing) existing.share += part;
            else merged.set(key, { ...c, share: part });
        }
    };
    add(routes.withoutFlag, 100 - weight);
    add(routes.withFlag, weight);
    return {
        withoutFlag: [...merged.values()].map((c) => ({ ...c, share: Math.round(c.share * 10) / 10 })),
        withFlag: toShares(routes.withFlag),
    };
}

/** The Envoy cluster name of a Service port (a host without a dot is a Service of the app namespace). */
function clusterName(host: string, port: number, subset = ""): string {
    const fqdn = host.includes(".") ? host : `${host}.${APP_NAMESPACE}.svc.cluster.local`;
    return `outbound|${port}|${subset}|${fqdn}`;
}

/**
 * The stage's service-to-service calls (stages/model.ts): with mesh routing, each route `from -> to`
 * sends `from`'s calls to `to`'s version, through the cluster of the backend the traffic API gives
 * that version (its router's `versionBackends`: a DestinationRule subset, a per-version Service, or
 * none, then the plain Service, whose named target ports keep storage clients on their engine);
 * without, every call goes to the plain Service (any version). Several APIs (mid-switch): any of
 * their clusters. Calls whose client no route names (analytics 1.0 once analytics 1.1 takes over)
 * are left to the storage check.
 */
export function expectedCalls(
    stage: StageName,
    workloads: Workload[],
    apis: TrafficApi[],
    canaryWeight = 0,
): ExpectedCall[] {
    const definition = stageByName(stage);
    const plan = planStage(stage, { canaryWeight });
    const backends = apis.map((api) =>
        trafficRouter(api).versionBackends(plan, { app: APP_NAMESPACE, gateway: "istio-ingress" }),
    );
    const calls: ExpectedCall[] = [];
    for (const w of workloads) {
        const ref = { component: w.component as Component, version: w.version as Version };
        const targets: ["analytics" | "storage", { host: string; port: number } | undefined, Component][] = [
            ["analytics", w.analytics, "voting-analytics"],
            ["storage", w.storage, "voting-storage"],
        ];
        for (const [kind, call, component] of targets) {
            if (!call) continue;
            const base = { from: w.deployment, kind, host: call.host, port: call.port };
            if (!definition.meshRouting) {
                calls.push({ ...base, version: "", clusters: [clusterName(call.host, call.port)] });
                continue;
            }
            const route = definition.routes.find(
                (r) =>
                    r.from.component === ref.component &&
                    r.from.version === ref.version &&
                    r.to.component === component,
            );
            if (!route) continue;
            const clusters = backends.map((list) => {
                const backend = list.find(
                    (b) => b.workload.component === component && b.workload.version === route.to.version,
                );
                if (!backend) return clusterName(call.host, call.port);
                if (backend.kind === "DestinationRule")
                    return clusterName(call.host, call.port, subsetName(route.to.version));
                if (backend.kind === "Service") return clusterName(backend.name, call.port);
                throw new Error(`expectedCalls: no cluster rule for a ${backend.kind} backend`);
            });
            calls.push({ ...base, version: route.to.version, clusters: [...new Set(clusters)] });
        }
    }
    return calls;
}

export const COOKIES = { withoutFlag: NO_FLAG.map((c) => c ?? null), withFlag: FLAG.map((c) => c ?? null) };
