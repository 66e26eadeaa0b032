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
 */
import type { KubernetesObject } from "../../mock/runProgram";

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
    /** The Set-Cookie header the ingress route adds to the response on this path, if any. */
    setCookie?: string;
}

export interface Cluster {
    objects: KubernetesObject[];
    namespace: string;
    /** Labels of the ingress gateway pods. */
    gatewayPodLabels: Record<string, string>;
}

const matches = (selector: Record<string, string> | undefined, labels: Record<string, string>) =>
    Object.entries(selector ?? {}).every(([k, v]) => labels[k] === v);

const of = (cluster: Cluster, kind: string) => cluster.objects.filter((o) => o.kind === kind);

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
    /** The Set-Cookie header the route's destination adds to the response (headers.response). */
    setCookie?: string;
}

/** Where one request goes: pods with shares, or an error share. */
function route(cluster: Cluster, req: Request, share: number, fromGateway: boolean): Hop[] {
    const { fqdn } = hostOf(cluster, req.host);
    const virtualServices = of(cluster, "VirtualService").filter((vs) => {
        const gateways: string[] = vs.spec.gateways ?? ["mesh"];
        if (fromGateway) {
            const boundGateways = of(cluster, "Gateway").filter(
                (g) => gateways.includes(g.metadata.name) && matches(g.spec.selector, cluster.gatewayPodLabels),
            );
            return boundGateways.length > 0 && (vs.spec.hosts ?? []).some((h: string) => h === "*" || h === req.host);
        }
        return (
            gateways.includes("mesh") &&
            (vs.spec.hosts ?? []).some((h: string) => h === fqdn || h === req.host.split(".")[0])
        );
    });
    if (fromGateway && virtualServices.length === 0)
        return [{ share, error: "no VirtualService is bound to a Gateway that selects the ingress gateway pods" }];
    if (virtualServices.length > 1) return [{ share, error: `${virtualServices.length} VirtualServices for ${fqdn}` }];
    if (virtualServices.length === 0) {
        const target = endpoints(cluster, req.host, req.port);
        return target.error ? [{ share, error: target.error }] : spread(target.pods, share);
    }
    const declared: any[] = virtualServices[0].spec[req.protocol] ?? [];
    // As Istio builds a proxy's routes: a rule whose every match names sourceLabels the proxy does
    // not carry is left out for it; a VirtualService left with no rule does not apply to it at all
    // (its requests go to the plain Service), whereas rules that remain but do not match refuse.
    const rules = declared.filter(
        (r) =>
            !r.match ||
            r.match.length === 0 ||
            r.match.some((m: any) => !m.sourceLabels || matches(m.sourceLabels, req.source ?? {})),
    );
    if (declared.length > 0 && rules.length === 0 && !fromGateway) {
        const target = endpoints(cluster, req.host, req.port);
        return target.error ? [{ share, error: target.error }] : spread(target.pods, share);
    }
    const rule = rules.find((r) => !r.match || r.match.length === 0 || r.match.some((m: any) => httpMatch(m, req)));
    if (!rule && req.protocol === "tcp") {
        // Istio adds a default TCP filter chain to the plain Service when no TCP route matches.
        const target = endpoints(cluster, req.host, req.port);
        return target.error ? [{ share, error: target.error }] : spread(target.pods, share);
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
 * Follows one user request with the given Cookie header (or none) through the cluster.
 * Returns each distinct path with its share of requests.
 */
export function followUserRequest(cluster: Cluster, cookie?: string): Outcome[] {
    const headers: Record<string, string> = cookie === undefined ? {} : { cookie };
    const outcomes: Outcome[] = [];
    for (const hop of route(cluster, { host: "voting-app", port: 80, headers, protocol: "http" }, 1, true)) {
        if (hop.error || !hop.pod) {
            outcomes.push({ share: hop.share, path: {}, error: hop.error });
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
                headers: {},
                source: app.labels,
                protocol: "http",
            },
            hop.share,
            false,
        );
        for (const a of analyticsHops) {
            if (a.error || !a.pod) {
                outcomes.push({ share: a.share, path: appPath, error: `analytics: ${a.error}`, ...setCookie });
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
                `${(o.share * 100).toFixed(1)}% ${o.error ? `REFUSED (${o.error})` : `app ${o.path.app} -> analytics ${o.path.analytics} -> storage ${o.path.appStorage}/${o.path.analyticsStorage}`}`,
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
