/**
 * A small model of how Kubernetes Services and Istio route one request, evaluated on the objects
 * the program registers (not on the stage model). It follows a user's request from the ingress
 * gateway to a voting-app pod, and from there the app's calls to analytics and storage, reading
 * each pod's environment (ANALYTICS_HOST/PORT, REDIS_*, MYSQL_*) as the app contract defines it.
 *
 * What it models: Gateway selection, VirtualService match order (first match wins; header regex
 * is a full match; sourceLabels), weighted destinations (and the Set-Cookie a destination's
 * `headers.response` adds, for the sticky canary), DestinationRule fragments merged per host
 * (first definition of a subset wins), subset labels, Service selectors and ports (as Kubernetes
 * builds endpoints: a numeric target port sends to every selected pod, declared container port or
 * not; a named one only to pods that declare a container port of that name), plain Service
 * round robin when no VirtualService applies (none names the host, or every rule of the one that
 * does is for other sourceLabels), an HTTP request that no remaining route matches is refused
 * (404) while a TCP connection that no route matches goes to the plain Service (Istio adds that
 * default filter chain). Istio's own generator is held to the same expectations in
 * tools/istio/routes, which is how the sourceLabels case above was found. What a real proxy does that it does not: retries,
 * timeouts, outlier detection, locality.
 *
 * Kubernetes Gateway API (traffic.api=gateway-api), as its specification says and Istio implements
 * it: a Gateway of an Istio GatewayClass bound by address to the ingress gateway's Service (Istio's
 * manual deployment), its listeners and which routes they allow; HTTPRoutes attached to it by
 * parentRef (name, sectionName, port), and HTTPRoutes attached to a Service (a parentRef of kind
 * Service: the mesh, "GAMMA"), which apply to every call from the mesh to that Service's port.
 * Among an HTTPRoute's matches the most specific wins (exact path, longest prefix, method, more
 * header matches, more query matches), ties by rule order; a rule without matches matches
 * PathPrefix /. Header matches Exact or RegularExpression (RE2, a full match: Istio makes it
 * Envoy's safe_regex); a request no rule matches is refused (404). backendRefs are Services (a
 * Service and port that do not exist refuse their share, as Gateway API's 500), weighted (default
 * 1, shares by weight over the rule's sum), each with its own filters (ResponseHeaderModifier
 * add/set of set-cookie); a Service's selector picks its pods by labels. Where no route of either
 * API applies, a Service round-robins over its pods. Two routes of one API for one hop (two
 * HTTPRoutes for one parent) are refused here as two VirtualServices for one host are: which one
 * wins is creation time, which the objects do not carry.
 *
 * Both APIs at once (only a switch of traffic.api passes through such states): where a
 * VirtualService and an HTTPRoute both route one hop (the ingress, or calls to one Service), this
 * model does not know which Istio lets win, and does not guess: the hop is `undecided` unless the
 * caller says which API wins it (`Cluster.precedence`), as the API-switch replay does for every
 * choice in turn. What Istio really does there is its config generator's to say (tools/istio).
 */
import type { KubernetesObject } from "../../mock/runProgram";
import { APP_VERSION_HEADER } from "../../stages/names";
import type { TrafficApi } from "../../stages/traffic/router";

export interface Pod {
    deployment: string;
    labels: Record<string, string>;
    env: Record<string, string>;
    image: string;
    containerPorts: number[];
    /** Container ports by name (what a Service's named targetPort resolves to). */
    namedPorts: Record<string, number>;
    replicas: number;
}

export interface Outcome {
    /** Share of requests (0-1) that take this path. */
    share: number;
    /** The versions each hop reached, e.g. { app: "1.0", analytics: "1.1", appStorage: "1.0", analyticsStorage: "1.0" }. */
    path: Record<string, string>;
    /** Why the request was refused, if it was. */
    error?: string;
    /** Set (with `error`) where both APIs route a hop and no `precedence` says which one wins it. */
    undecided?: boolean;
    /** The Set-Cookie header the ingress route adds to the response on this path, if any. */
    setCookie?: string;
}

export interface Cluster {
    objects: KubernetesObject[];
    namespace: string;
    /** Labels of the ingress gateway pods. */
    gatewayPodLabels: Record<string, string>;
    /** The ingress gateway's Service: a Gateway API Gateway binds to those pods by its address. */
    gatewayService?: { name: string; namespace: string };
    /** The GatewayClasses Istio's gateway controller serves (istiod's default: istio). */
    gatewayClasses?: string[];
    /**
     * Which API wins a hop that a VirtualService and an HTTPRoute both route (`ingress`, or the
     * Service's host for calls inside the mesh). Unset: such a hop is `undecided`.
     */
    precedence?: (hop: string) => TrafficApi;
}

/** Gateway API's group (its Gateway shares the kind name with Istio's). */
export const GATEWAY_API_GROUP = "gateway.networking.k8s.io";
/** The GatewayClass istiod creates and serves unless told otherwise. */
export const ISTIO_GATEWAY_CLASSES = ["istio"];

const groupOf = (o: KubernetesObject) => (o.apiVersion.includes("/") ? o.apiVersion.split("/")[0] : "");
/** Istio's Gateway, VirtualService and DestinationRule (networking.istio.io). */
const isIstioNetworking = (o: KubernetesObject) => groupOf(o) === "networking.istio.io";
const isGatewayApi = (o: KubernetesObject) => groupOf(o) === GATEWAY_API_GROUP;

const matches = (selector: Record<string, string> | undefined, labels: Record<string, string>) =>
    Object.entries(selector ?? {}).every(([k, v]) => labels[k] === v);

const of = (cluster: Cluster, kind: string) => cluster.objects.filter((o) => o.kind === kind);
/** Istio's Gateways (Gateway API's have the same kind). */
const istioGateways = (cluster: Cluster) => of(cluster, "Gateway").filter(isIstioNetworking);
const gatewayApiGateways = (cluster: Cluster) => of(cluster, "Gateway").filter(isGatewayApi);
const httpRoutes = (cluster: Cluster) => of(cluster, "HTTPRoute").filter(isGatewayApi);

export function podsOf(cluster: Cluster): Pod[] {
    return of(cluster, "Deployment")
        .filter((d) => (d.spec.replicas ?? 1) > 0)
        .map((d) => {
            const container = d.spec.template.spec.containers[0];
            const env: Record<string, string> = {};
            for (const e of container.env ?? []) env[e.name] = e.value ?? `<from ${e.valueFrom?.secretKeyRef?.name}>`;
            return {
                deployment: d.metadata.name,
                labels: d.spec.template.metadata.labels,
                env,
                image: container.image,
                containerPorts: (container.ports ?? []).map((p: any) => p.containerPort),
                namedPorts: Object.fromEntries(
                    (container.ports ?? []).filter((p: any) => p.name).map((p: any) => [p.name, p.containerPort]),
                ),
                replicas: d.spec.replicas ?? 1,
            };
        });
}

function hostOf(cluster: Cluster, host: string): { service?: KubernetesObject; fqdn: string } {
    const short = host.split(".")[0];
    const fqdn = host.includes(".") ? host : `${host}.${cluster.namespace}.svc.cluster.local`;
    const service = of(cluster, "Service").find(
        (s) => s.metadata.name === short && fqdn === `${short}.${s.metadata.namespace}.svc.cluster.local`,
    );
    return { service, fqdn };
}

/** Subsets of a host: the DestinationRules for it merged, first definition of a name wins. */
export function subsetsOf(cluster: Cluster, fqdn: string): Map<string, Record<string, string>> {
    const subsets = new Map<string, Record<string, string>>();
    for (const dr of of(cluster, "DestinationRule")) {
        const host = dr.spec.host.includes(".")
            ? dr.spec.host
            : `${dr.spec.host}.${dr.metadata.namespace}.svc.cluster.local`;
        if (host !== fqdn) continue;
        for (const s of dr.spec.subsets ?? []) if (!subsets.has(s.name)) subsets.set(s.name, s.labels ?? {});
    }
    return subsets;
}

interface Target {
    pods: Pod[];
    error?: string;
}

/** The pods behind host[:port] (optionally one subset), as a Service and DestinationRules define them. */
function endpoints(cluster: Cluster, host: string, port: number, subset?: string): Target {
    const { service, fqdn } = hostOf(cluster, host);
    if (!service) return { pods: [], error: `no Service for ${host}` };
    const servicePort = (service.spec.ports ?? []).find((p: any) => p.port === port);
    if (!servicePort) return { pods: [], error: `Service ${service.metadata.name} has no port ${port}` };
    let pods = podsOf(cluster).filter((p) => matches(service.spec.selector, p.labels));
    if (subset !== undefined) {
        const labels = subsetsOf(cluster, fqdn).get(subset);
        if (!labels) return { pods: [], error: `subset ${subset} of ${fqdn} is not defined by any DestinationRule` };
        pods = pods.filter((p) => matches(labels, p.labels));
    }
    // Kubernetes' endpoints: a named target port only covers pods declaring a container port of that
    // name; a numeric one covers every selected pod, whether or not anything listens there.
    const target = servicePort.targetPort ?? port;
    if (typeof target === "string") pods = pods.filter((p) => p.namedPorts[target] !== undefined);
    if (pods.length === 0) return { pods, error: `no pod serves ${fqdn}:${port}${subset ? ` subset ${subset}` : ""}` };
    return { pods };
}

/** Round robin over pods: each Deployment's share is its replica count. */
function spread(pods: Pod[], share: number): Hop[] {
    const total = pods.reduce((n, p) => n + p.replicas, 0);
    return pods.map((pod) => ({ pod, share: (share * pod.replicas) / total }));
}

function fullMatch(regex: string, value: string | undefined): boolean {
    if (value === undefined) return false;
    return new RegExp(`^(?:${regex})$`).test(value);
}

interface Request {
    host: string;
    port: number;
    /** The request's path (HTTP): Gateway API's matches always name one (PathPrefix / by default). */
    path?: string;
    method?: string;
    headers: Record<string, string>;
    source?: Record<string, string>;
    protocol: "http" | "tcp";
}

function httpMatch(match: any, req: Request): boolean {
    if (match.sourceLabels && !matches(match.sourceLabels, req.source ?? {})) return false;
    if (match.port !== undefined && match.port !== req.port) return false;
    for (const [name, cond] of Object.entries<any>(match.headers ?? {})) {
        const value = req.headers[name.toLowerCase()];
        if (cond.exact !== undefined && value !== cond.exact) return false;
        if (cond.prefix !== undefined && !(value ?? "").startsWith(cond.prefix)) return false;
        if (cond.regex !== undefined && !fullMatch(cond.regex, value)) return false;
    }
    return true;
}

interface Hop {
    pod?: Pod;
    share: number;
    error?: string;
    undecided?: boolean;
    /** The Set-Cookie header the route's destination adds to the response (headers.response). */
    setCookie?: string;
}

/** The plain Service: round robin over the pods its selector picks. */
function plainService(cluster: Cluster, req: Request, share: number): Hop[] {
    const target = endpoints(cluster, req.host, req.port);
    return target.error ? [{ share, error: target.error }] : spread(target.pods, share);
}

/** VirtualServices bound to a Gateway that selects the ingress gateway pods (from the gateway), or for the host in the mesh. */
function boundVirtualServices(cluster: Cluster, req: Request, fromGateway: boolean): KubernetesObject[] {
    const { fqdn } = hostOf(cluster, req.host);
    return of(cluster, "VirtualService").filter((vs) => {
        const gateways: string[] = vs.spec.gateways ?? ["mesh"];
        if (fromGateway) {
            const boundGateways = istioGateways(cluster).filter(
                (g) => gateways.includes(g.metadata.name) && matches(g.spec.selector, cluster.gatewayPodLabels),
            );
            return boundGateways.length > 0 && (vs.spec.hosts ?? []).some((h: string) => h === "*" || h === req.host);
        }
        return (
            gateways.includes("mesh") &&
            (vs.spec.hosts ?? []).some((h: string) => h === fqdn || h === req.host.split(".")[0])
        );
    });
}

/** Where one request goes: pods with shares, or an error share. */
function route(cluster: Cluster, req: Request, share: number, fromGateway: boolean): Hop[] {
    const { fqdn } = hostOf(cluster, req.host);
    const virtualServices = boundVirtualServices(cluster, req, fromGateway);
    const attached = req.protocol === "http" ? attachedHttpRoutes(cluster, req, fromGateway) : [];
    // A VirtualService whose every rule is for other sourceLabels does not apply to this caller.
    const vsApplies =
        virtualServices.length > 0 &&
        (fromGateway || virtualServices.length > 1 || applicableRules(virtualServices[0], req).applies);
    if (vsApplies && attached.length > 0) {
        const hop = fromGateway ? "ingress" : fqdn;
        const winner = cluster.precedence?.(hop);
        if (winner === undefined) {
            const names = (kind: string, os: KubernetesObject[]) =>
                `${kind} ${os.map((o) => o.metadata.name).join(", ")}`;
            return [
                {
                    share,
                    undecided: true,
                    error: `undecided: ${names("VirtualService", virtualServices)} and ${names("HTTPRoute", attached)} both route ${hop}`,
                },
            ];
        }
        return winner === "istio"
            ? viaVirtualService(cluster, req, share, fromGateway, virtualServices)
            : viaHttpRoutes(cluster, req, share, attached);
    }
    if (attached.length > 0) return viaHttpRoutes(cluster, req, share, attached);
    if (fromGateway && virtualServices.length === 0) {
        const message = "no VirtualService is bound to a Gateway that selects the ingress gateway pods";
        return [
            {
                share,
                error: cluster.objects.some(isGatewayApi)
                    ? `${message}, and no HTTPRoute to a Gateway bound to the ingress gateway's Service`
                    : message,
            },
        ];
    }
    if (virtualServices.length === 0) return plainService(cluster, req, share);
    return viaVirtualService(cluster, req, share, fromGateway, virtualServices);
}

/** As Istio builds a proxy's routes from a VirtualService: the rules left for this caller, and whether any is. */
function applicableRules(vs: KubernetesObject, req: Request): { declared: any[]; rules: any[]; applies: boolean } {
    const declared: any[] = vs.spec[req.protocol] ?? [];
    const rules = declared.filter(
        (r) =>
            !r.match ||
            r.match.length === 0 ||
            r.match.some((m: any) => !m.sourceLabels || matches(m.sourceLabels, req.source ?? {})),
    );
    return { declared, rules, applies: !(declared.length > 0 && rules.length === 0) };
}

function viaVirtualService(
    cluster: Cluster,
    req: Request,
    share: number,
    fromGateway: boolean,
    virtualServices: KubernetesObject[],
): Hop[] {
    const { fqdn } = hostOf(cluster, req.host);
    if (virtualServices.length > 1) return [{ share, error: `${virtualServices.length} VirtualServices for ${fqdn}` }];
    // As Istio builds a proxy's routes: a rule whose every match names sourceLabels the proxy does
    // not carry is left out for it; a VirtualService left with no rule does not apply to it at all
    // (its requests go to the plain Service), whereas rules that remain but do not match refuse.
    const { rules, applies } = applicableRules(virtualServices[0], req);
    if (!applies && !fromGateway) return plainService(cluster, req, share);
    const rule = rules.find((r) => !r.match || r.match.length === 0 || r.match.some((m: any) => httpMatch(m, req)));
    if (!rule && req.protocol === "tcp") {
        // Istio adds a default TCP filter chain to the plain Service when no TCP route matches.
        return plainService(cluster, req, share);
    }
    if (!rule)
        return [
            { share, error: `no ${req.protocol} route of VirtualService ${virtualServices[0].metadata.name} matches` },
        ];
    const destinations: any[] = rule.route ?? [];
    const totalWeight = destinations.length === 1 ? 100 : destinations.reduce((n, d) => n + (d.weight ?? 0), 0);
    if (totalWeight !== 100) return [{ share, error: `route weights sum to ${totalWeight}` }];
    return destinations.flatMap((d): Hop[] => {
        const weight = destinations.length === 1 ? 100 : (d.weight ?? 0);
        if (weight === 0) return [];
        const port = d.destination.port?.number ?? req.port;
        const target = endpoints(cluster, d.destination.host, port, d.destination.subset);
        const part = (share * weight) / 100;
        const response = d.headers?.response ?? {};
        const setCookie: string | undefined = response.set?.["set-cookie"] ?? response.add?.["set-cookie"];
        const hops = target.error ? [{ share: part, error: target.error }] : spread(target.pods, part);
        return setCookie === undefined ? hops : hops.map((h) => ({ ...h, setCookie }));
    });
}

// Kubernetes Gateway API ------------------------------------------------------------------------

const nsOf = (cluster: Cluster, o: KubernetesObject) =>
    (o.metadata.namespace as string | undefined) ?? cluster.namespace;

/** Gateway API Gateways on the ingress gateway's pods: of a class Istio serves, bound by address to its Service. */
function ingressGatewayApiGateways(cluster: Cluster): KubernetesObject[] {
    const service = cluster.gatewayService;
    if (!service) return [];
    const address = `${service.name}.${service.namespace}.svc.cluster.local`;
    const classes = cluster.gatewayClasses ?? ISTIO_GATEWAY_CLASSES;
    return gatewayApiGateways(cluster).filter(
        (g) =>
            classes.includes(g.spec.gatewayClassName) &&
            // Istio binds a Hostname address only to a Service in the Gateway's own namespace
            // (otherwise: AddressNotUsable, IST0171, and no listener is served).
            nsOf(cluster, g) === service.namespace &&
            // Without an address Istio deploys a gateway of its own for it (automated deployment).
            (g.spec.addresses ?? []).some((a: any) => (a.type ?? "IPAddress") === "Hostname" && a.value === address),
    );
}

/**
 * Whether a listener takes this route: allowedRoutes (namespaces Same by default, All, or a Selector
 * over the namespace's labels, of which the model knows the one every namespace carries,
 * kubernetes.io/metadata.name; kinds HTTPRoute for HTTP).
 */
function listenerAllows(cluster: Cluster, gateway: KubernetesObject, listener: any, route: KubernetesObject): boolean {
    const namespaces = listener.allowedRoutes?.namespaces;
    const from = namespaces?.from ?? "Same";
    const routeNamespace = nsOf(cluster, route);
    if (from === "Same" && routeNamespace !== nsOf(cluster, gateway)) return false;
    if (from === "Selector" && !namespaceSelected(namespaces.selector, routeNamespace)) return false;
    if (!["Same", "All", "Selector"].includes(from)) return false;
    const kinds: any[] | undefined = listener.allowedRoutes?.kinds;
    return !kinds || kinds.some((k) => k.kind === "HTTPRoute" && (k.group ?? GATEWAY_API_GROUP) === GATEWAY_API_GROUP);
}

/** A label selector over a namespace whose only label is kubernetes.io/metadata.name (set by the API server). */
function namespaceSelected(selector: any, namespace: string): boolean {
    if (!selector) return false;
    const labels: Record<string, string> = { "kubernetes.io/metadata.name": namespace };
    const matchLabels: Record<string, string> = selector.matchLabels ?? {};
    const matchExpressions: any[] = selector.matchExpressions ?? [];
    if (!Object.keys(matchLabels).length && !matchExpressions.length) return true; // {} selects every namespace
    return (
        Object.entries(matchLabels).every(([k, v]) => labels[k] === v) &&
        matchExpressions.every((e) => {
            const value = labels[e.key];
            switch (e.operator) {
                case "In":
                    return value !== undefined && (e.values ?? []).includes(value);
                case "NotIn":
                    return value === undefined || !(e.values ?? []).includes(value);
                case "Exists":
                    return value !== undefined;
                case "DoesNotExist":
                    return value === undefined;
                default:
                    return false;
            }
        })
    );
}

/** The listener of `gateway` that `ref` (a parentRef of `route`) attaches the route to, for requests on `port`. */
function attachedListener(
    cluster: Cluster,
    route: KubernetesObject,
    ref: any,
    gateway: KubernetesObject,
    port?: number,
): any | undefined {
    if ((ref.group ?? GATEWAY_API_GROUP) !== GATEWAY_API_GROUP || (ref.kind ?? "Gateway") !== "Gateway")
        return undefined;
    if (ref.name !== gateway.metadata.name || (ref.namespace ?? nsOf(cluster, route)) !== nsOf(cluster, gateway))
        return undefined;
    return (gateway.spec.listeners ?? []).find(
        (l: any) =>
            (ref.sectionName === undefined || ref.sectionName === l.name) &&
            (ref.port === undefined || ref.port === l.port) &&
            (port === undefined || (l.port === port && ["HTTP", "HTTPS"].includes(l.protocol))) &&
            listenerAllows(cluster, gateway, l, route),
    );
}

/** Whether `ref` (a parentRef of `route`) attaches it to `service`, for calls to `port`: Gateway API's mesh. */
function attachesToService(
    cluster: Cluster,
    route: KubernetesObject,
    ref: any,
    service: KubernetesObject,
    port?: number,
) {
    return (
        ref.group === "" &&
        ref.kind === "Service" &&
        ref.name === service.metadata.name &&
        (ref.namespace ?? nsOf(cluster, route)) === nsOf(cluster, service) &&
        (ref.port === undefined || port === undefined || ref.port === port)
    );
}

/** The HTTPRoutes that route this request: attached to an ingress Gateway's listener, or (mesh) to the called Service's port. */
function attachedHttpRoutes(cluster: Cluster, req: Request, fromGateway: boolean): KubernetesObject[] {
    const hostnameOk = (route: KubernetesObject) =>
        !route.spec.hostnames?.length || route.spec.hostnames.includes(req.host);
    if (fromGateway) {
        const gateways = ingressGatewayApiGateways(cluster);
        return httpRoutes(cluster).filter(
            (route) =>
                hostnameOk(route) &&
                (route.spec.parentRefs ?? []).some((ref: any) =>
                    gateways.some((g) => attachedListener(cluster, route, ref, g, req.port) !== undefined),
                ),
        );
    }
    const { service } = hostOf(cluster, req.host);
    if (!service) return [];
    return httpRoutes(cluster).filter((route) =>
        (route.spec.parentRefs ?? []).some((ref: any) => attachesToService(cluster, route, ref, service, req.port)),
    );
}

/** A match as Gateway API defaults it: a path always (PathPrefix / when none is given). */
function withDefaults(match: any): any {
    return { ...match, path: { type: "PathPrefix", value: "/", ...(match.path ?? {}) } };
}

/** Gateway API's precedence between two matches: exact path, longest prefix, method, more headers, more query params. */
function specificity(match: any): number[] {
    const path = match.path;
    return [
        path.type === "Exact" ? 0 : path.type === "PathPrefix" ? 1 : 2,
        -(path.value ?? "").length,
        match.method ? 0 : 1,
        -(match.headers ?? []).length,
        -(match.queryParams ?? []).length,
    ];
}

function pathMatches(path: any, requestPath: string): boolean {
    const value: string = path.value ?? "/";
    if (path.type === "Exact") return requestPath === value;
    if (path.type === "RegularExpression") return fullMatch(value, requestPath);
    // PathPrefix: element-wise, ignoring a trailing slash: /a matches /a and /a/b, not /ab.
    const prefix = value.replace(/\/+$/, "");
    return prefix === "" || requestPath === prefix || requestPath.startsWith(`${prefix}/`);
}

function valueMatches(cond: any, value: string | undefined): boolean {
    if (value === undefined) return false;
    return (cond.type ?? "Exact") === "RegularExpression" ? fullMatch(cond.value, value) : value === cond.value;
}

function gatewayApiMatch(match: any, req: Request): boolean {
    if (!pathMatches(match.path, req.path ?? "/")) return false;
    if (match.method && match.method !== (req.method ?? "GET")) return false;
    for (const h of match.headers ?? []) if (!valueMatches(h, req.headers[String(h.name).toLowerCase()])) return false;
    // The model's requests carry no query string.
    for (const q of match.queryParams ?? []) if (!valueMatches(q, undefined)) return false;
    return true;
}

/** The Set-Cookie header a list of filters adds or sets on the response, if any. */
function setCookieOf(filters: any[] | undefined): string | undefined {
    for (const f of filters ?? []) {
        if (f.type !== "ResponseHeaderModifier") continue;
        const headers = [...(f.responseHeaderModifier?.set ?? []), ...(f.responseHeaderModifier?.add ?? [])];
        const found = headers.find((h: any) => String(h.name).toLowerCase() === "set-cookie");
        if (found) return found.value;
    }
    return undefined;
}

/**
 * The pods behind one backendRef of an HTTPRoute: a Service of the route's namespace and one of its
 * ports (Gateway API requires the port), its pods by its selector; else why not.
 */
function httpBackend(cluster: Cluster, route: KubernetesObject, ref: any): Target {
    const what = `HTTPRoute ${route.metadata.name}`;
    if ((ref.group ?? "") !== "" || (ref.kind ?? "Service") !== "Service")
        return { pods: [], error: `${what}: a backendRef of kind ${ref.group ?? ""}/${ref.kind} (not modelled)` };
    const namespace = ref.namespace ?? nsOf(cluster, route);
    if (namespace !== nsOf(cluster, route))
        return {
            pods: [],
            error: `${what}: backendRef ${namespace}/${ref.name} needs a ReferenceGrant (not modelled)`,
        };
    const service = of(cluster, "Service").find((s) => s.metadata.name === ref.name && nsOf(cluster, s) === namespace);
    if (!service) return { pods: [], error: `${what} names Service ${ref.name}, which does not exist` };
    if (ref.port === undefined) return { pods: [], error: `${what} names Service ${ref.name} without a port` };
    if (!(service.spec.ports ?? []).some((p: any) => p.port === ref.port))
        return { pods: [], error: `${what} names port ${ref.port} of Service ${ref.name}, which it does not have` };
    return endpoints(cluster, `${ref.name}.${namespace}.svc.cluster.local`, ref.port);
}

function viaHttpRoutes(cluster: Cluster, req: Request, share: number, routes: KubernetesObject[]): Hop[] {
    // Across routes, ties go to the oldest: creation time, which these objects do not carry.
    if (routes.length > 1)
        return [
            {
                share,
                error: `${routes.length} HTTPRoutes for one parent: ${routes.map((r) => r.metadata.name).join(", ")}`,
            },
        ];
    const route = routes[0];
    const candidates = (route.spec.rules ?? []).flatMap((rule: any, index: number) =>
        (rule.matches?.length ? rule.matches : [{}]).map((m: any) => ({ rule, index, match: withDefaults(m) })),
    );
    const order = (a: any, b: any) => {
        const [x, y] = [specificity(a.match), specificity(b.match)];
        const at = x.findIndex((v, i) => v !== y[i]);
        return at >= 0 ? x[at] - y[at] : a.index - b.index;
    };
    const chosen = [...candidates].sort(order).find((c) => gatewayApiMatch(c.match, req));
    if (!chosen) return [{ share, error: `no rule of HTTPRoute ${route.metadata.name} matches (404)` }];
    const refs: any[] = chosen.rule.backendRefs ?? [];
    const total = refs.reduce((n, r) => n + (r.weight ?? 1), 0);
    if (total === 0) return [{ share, error: `HTTPRoute ${route.metadata.name}: no backend with a weight (500)` }];
    const ruleCookie = setCookieOf(chosen.rule.filters);
    return refs.flatMap((ref): Hop[] => {
        const weight = ref.weight ?? 1;
        if (weight === 0) return [];
        const part = (share * weight) / total;
        const target = httpBackend(cluster, route, ref);
        const setCookie = setCookieOf(ref.filters) ?? ruleCookie;
        const hops = target.error ? [{ share: part, error: target.error }] : spread(target.pods, part);
        return setCookie === undefined ? hops : hops.map((h) => ({ ...h, setCookie }));
    });
}

/**
 * What every route of either API names and cannot reach: a Gateway or Service (or listener, port,
 * subset) that does not exist, or a backend no pod serves. Empty where every route is complete; it
 * judges each API's objects on their own, so it holds in a state where both APIs' objects exist.
 */
export function routeReferenceProblems(cluster: Cluster): string[] {
    const problems: string[] = [];
    for (const vs of of(cluster, "VirtualService")) {
        const what = `VirtualService ${vs.metadata.name}`;
        for (const gateway of (vs.spec.gateways ?? []) as string[]) {
            if (gateway === "mesh") continue;
            const name = gateway.split("/").pop();
            if (!istioGateways(cluster).some((g) => g.metadata.name === name))
                problems.push(`${what} names Gateway ${gateway}, which does not exist`);
        }
        for (const protocol of ["http", "tcp", "tls"]) {
            for (const rule of vs.spec[protocol] ?? []) {
                for (const d of rule.route ?? []) {
                    const port = d.destination.port?.number;
                    const { service } = hostOf(cluster, d.destination.host);
                    const ports: number[] =
                        port !== undefined ? [port] : (service?.spec.ports ?? []).map((p: any) => p.port);
                    for (const p of ports.length ? ports : [0]) {
                        const target = endpoints(cluster, d.destination.host, p, d.destination.subset);
                        if (target.error) problems.push(`${what}: ${target.error}`);
                    }
                }
            }
        }
    }
    for (const route of httpRoutes(cluster)) {
        const what = `HTTPRoute ${route.metadata.name}`;
        for (const ref of route.spec.parentRefs ?? []) {
            if (ref.kind === "Service") {
                const service = of(cluster, "Service").find(
                    (s) => s.metadata.name === ref.name && nsOf(cluster, s) === (ref.namespace ?? nsOf(cluster, route)),
                );
                if (!service || !attachesToService(cluster, route, ref, service))
                    problems.push(`${what}: parent Service ${ref.name} does not exist`);
                else if (ref.port !== undefined && !(service.spec.ports ?? []).some((p: any) => p.port === ref.port))
                    problems.push(`${what}: parent Service ${ref.name} has no port ${ref.port}`);
                continue;
            }
            const attached = gatewayApiGateways(cluster).some(
                (g) => attachedListener(cluster, route, ref, g) !== undefined,
            );
            if (!attached)
                problems.push(
                    `${what}: no listener of a Gateway ${ref.name}${ref.sectionName ? ` (${ref.sectionName})` : ""} takes it`,
                );
        }
        for (const rule of route.spec.rules ?? [])
            for (const ref of rule.backendRefs ?? []) {
                const target = httpBackend(cluster, route, ref);
                if (target.error)
                    problems.push(target.error.startsWith(what) ? target.error : `${what}: ${target.error}`);
            }
    }
    return problems;
}

/** Where a client pod opens its store, from its REDIS_* or MYSQL_* settings (the app contract). */
export function storageSettingsOf(pod: Pick<Pod, "env">): { host?: string; port: number; engine: "redis" | "mysql" } {
    return pod.env.REDIS_HOST
        ? { host: pod.env.REDIS_HOST, port: Number(pod.env.REDIS_PORT), engine: "redis" }
        : { host: pod.env.MYSQL_HOST, port: Number(pod.env.MYSQL_PORT), engine: "mysql" };
}

function storageCall(
    cluster: Cluster,
    client: Pod,
    share: number,
): { version?: string; engine?: string; share: number; error?: string }[] {
    const { host, port, engine } = storageSettingsOf(client);
    if (!host || !port) return [{ share, error: `${client.deployment} has no storage settings` }];
    return route(cluster, { host, port, headers: {}, source: client.labels, protocol: "tcp" }, share, false).map(
        (r) => {
            if (r.error || !r.pod) return { share: r.share, error: r.error };
            const served = /mysql/.test(r.pod.image) ? "mysql" : /redis/.test(r.pod.image) ? "redis" : "unknown";
            if (served !== engine)
                return {
                    share: r.share,
                    error: `${client.deployment} speaks ${engine} but reached ${r.pod.deployment} (${served})`,
                };
            return { share: r.share, version: r.pod.labels.version, engine: served };
        },
    );
}

export interface StorageConnection {
    /** The client Deployment (every app and analytics version that runs, routed to or not). */
    client: string;
    engine: string;
    port: number;
    share: number;
    /** The storage version reached. */
    version?: string;
    error?: string;
}

/**
 * Where every storage client's connections land: each running app and analytics Deployment opens
 * its store (REDIS_* or MYSQL_* settings) from its own pod, whether or not any user request
 * reaches it (its readiness check does). Routed by a TCP route when one matches its labels and
 * port, else by the plain Service.
 */
export function followStorageClients(cluster: Cluster): StorageConnection[] {
    return podsOf(cluster)
        .filter((pod) => pod.env.REDIS_HOST || pod.env.MYSQL_HOST)
        .flatMap((pod) => {
            const { engine, port } = storageSettingsOf(pod);
            return storageCall(cluster, pod, 1).map((c) => ({
                client: pod.deployment,
                engine,
                port,
                share: c.share,
                version: c.version,
                error: c.error,
            }));
        });
}

/**
 * The version an app pod names on its calls to analytics (APP_VERSION_HEADER, app/src/app.ts): its
 * VERSION, which its image was built with (stages/names.ts buildArgsOf: the workload's version, its
 * `version` label) unless the pod's environment sets another.
 */
export function appVersionOf(pod: Pick<Pod, "env" | "labels">): string {
    return pod.env.VERSION ?? pod.labels.version;
}

/**
 * Follows one user request with the given Cookie header (or none) through the cluster.
 * Returns each distinct path with its share of requests.
 */
export function followUserRequest(cluster: Cluster, cookie?: string): Outcome[] {
    const headers: Record<string, string> = cookie === undefined ? {} : { cookie };
    const outcomes: Outcome[] = [];
    for (const hop of route(cluster, { host: "voting-app", port: 80, path: "/", headers, protocol: "http" }, 1, true)) {
        if (hop.error || !hop.pod) {
            outcomes.push({
                share: hop.share,
                path: {},
                error: hop.error,
                ...(hop.undecided ? { undecided: true } : {}),
            });
            continue;
        }
        const app = hop.pod;
        const appPath = { app: app.labels.version };
        const setCookie = hop.setCookie === undefined ? {} : { setCookie: hop.setCookie };
        const appStorage = storageCall(cluster, app, 1);
        const analyticsHops = route(
            cluster,
            {
                host: app.env.ANALYTICS_HOST ?? "",
                port: Number(app.env.ANALYTICS_PORT),
                path: "/analytics",
                headers: { [APP_VERSION_HEADER]: appVersionOf(app) },
                source: app.labels,
                protocol: "http",
            },
            hop.share,
            false,
        );
        for (const a of analyticsHops) {
            if (a.error || !a.pod) {
                outcomes.push({
                    share: a.share,
                    path: appPath,
                    error: `analytics: ${a.error}`,
                    ...(a.undecided ? { undecided: true } : {}),
                    ...setCookie,
                });
                continue;
            }
            for (const s of appStorage) {
                for (const t of storageCall(cluster, a.pod, 1)) {
                    const path = {
                        ...appPath,
                        analytics: a.pod.labels.version,
                        appStorage: s.version ?? "-",
                        analyticsStorage: t.version ?? "-",
                    };
                    const error = s.error
                        ? `app storage: ${s.error}`
                        : t.error
                          ? `analytics storage: ${t.error}`
                          : undefined;
                    outcomes.push({
                        share: a.share * s.share * t.share,
                        path,
                        ...(error ? { error } : {}),
                        ...setCookie,
                    });
                }
            }
        }
    }
    return merge(outcomes);
}

function merge(outcomes: Outcome[]): Outcome[] {
    const byKey = new Map<string, Outcome>();
    for (const o of outcomes) {
        const key = JSON.stringify([o.path, o.error ?? "", o.setCookie ?? ""]);
        const existing = byKey.get(key);
        if (existing) existing.share += o.share;
        else byKey.set(key, { ...o, path: { ...o.path } });
    }
    return [...byKey.values()]
        .map((o) => ({ ...o, share: Math.round(o.share * 1e6) / 1e6 }))
        .sort((a, b) => JSON.stringify(a.path).localeCompare(JSON.stringify(b.path)));
}

/** Path as "app 1.0 -> analytics 1.1 -> storage 1.0/1.0" for messages. */
export function describe(outcomes: Outcome[]): string {
    return outcomes
        .map(
            (o) =>
                `${(o.share * 100).toFixed(1)}% ${o.undecided ? `UNDECIDED (${o.error})` : o.error ? `REFUSED (${o.error})` : `app ${o.path.app} -> analytics ${o.path.analytics} -> storage ${o.path.appStorage}/${o.path.analyticsStorage}`}`,
        )
        .join("; ");
}

/**
 * A browser's next Cookie header: `cookie` with the cookie a Set-Cookie header sets put in (its
 * earlier value replaced), attributes (Path, HttpOnly, ...) left out.
 */
export function withSetCookie(cookie: string | undefined, setCookie: string | undefined): string | undefined {
    if (!setCookie) return cookie;
    const pair = setCookie.split(";")[0].trim();
    const name = pair.split("=")[0];
    const others = (cookie ?? "")
        .split(";")
        .map((c) => c.trim())
        .filter((c) => c && c.split("=")[0] !== name);
    return [...others, pair].join("; ");
}
