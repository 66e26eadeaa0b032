/**
 * Istio object specs for a StagePlan: plain data, no Pulumi. `VotingApp` registers them.
 *
 * Make before break (Istio's traffic-management best practice) is built into the shape:
 * each subset is its own DestinationRule fragment (Istio merges fragments for one host), and
 * each version its own Deployment. Entering a stage, new subsets and Deployments are therefore
 * Pulumi *creates*, which run before the VirtualService updates that depend on them; subsets
 * and Deployments a stage drops are Pulumi *deletes*, which run at the end of the update, after
 * every VirtualService has stopped routing to them.
 */
import {
    Component,
    MeshRoute,
    STORAGE_ENGINES,
    StagePlan,
    StorageVersion,
    stickyAssignment,
    Version,
    subsetName,
} from "./model";
import { APP_GATEWAY_NAME, APP_PORT, CANARY_COOKIE, canaryCookieValue, serviceHost } from "./names";

export const FEATURE_FLAG_COOKIE = "featureflag=on";
/**
 * RE2, matched against the whole Cookie header. Cookies are separated by "; " (RFC 6265), so the
 * walkthrough's `^(.*?;)?(featureflag=on)(;.*)?$` misses the flag when it is not the first cookie.
 */
export const FEATURE_FLAG_COOKIE_REGEX = "^(.*?;\\s*)?(featureflag=on)(;.*)?$";

export interface DestinationRuleFragment {
    /** voting-app-v1-0: one subset of one component. */
    name: string;
    component: Component;
    version: Version;
    spec: Record<string, unknown>;
}

export interface VirtualServiceManifest {
    name: string;
    component: Component;
    spec: Record<string, unknown>;
    /** Subsets this VirtualService routes to (what must exist before it is applied). */
    routesTo: { component: Component; version: Version }[];
}

export function gatewaySpec(selector: Record<string, string>): Record<string, unknown> {
    return {
        selector,
        servers: [{ port: { number: 80, name: "http", protocol: "HTTP" }, hosts: ["*"] }],
    };
}

export function destinationRuleFragments(plan: StagePlan, namespace: string): DestinationRuleFragment[] {
    return (Object.keys(plan.subsets) as Component[]).flatMap((component) =>
        plan.subsets[component].map((version) => ({
            name: `${component}-${subsetName(version)}`,
            component,
            version,
            spec: {
                host: serviceHost(component, namespace),
                subsets: [
                    {
                        name: subsetName(version),
                        labels: { version },
                        // Subset-level, so that fragments never compete for the one top-level policy.
                        trafficPolicy: { tls: { mode: "ISTIO_MUTUAL" } },
                    },
                ],
            },
        })),
    );
}

/** An RE2 alternation matching exactly the decimal integers from..to (1 <= from <= to <= 99). */
export function integerRangeRegex(from: number, to: number): string {
    if (!(Number.isInteger(from) && Number.isInteger(to) && 1 <= from && from <= to && to <= 99))
        throw new Error(`integerRangeRegex: ${from}..${to} is not within 1..99`);
    const digits = (a: number, b: number) => (a === b ? `${a}` : `[${a}-${b}]`);
    const parts: string[] = [];
    let n = from;
    while (n <= to) {
        if (n <= 9) {
            parts.push(digits(n, Math.min(to, 9)));
            n = Math.min(to, 9) + 1;
            continue;
        }
        const tens = Math.floor(n / 10);
        // Whole decades at once: 30..99 is [3-9][0-9].
        const lastWholeDecade = Math.floor((to + 1) / 10) - 1;
        if (n % 10 === 0 && lastWholeDecade >= tens) {
            parts.push(`${digits(tens, lastWholeDecade)}[0-9]`);
            n = (lastWholeDecade + 1) * 10;
            continue;
        }
        const hi = Math.min(to, tens * 10 + 9);
        parts.push(`${tens}${digits(n % 10, hi % 10)}`);
        n = hi + 1;
    }
    return parts.join("|");
}

/** RE2 on the whole Cookie header: CANARY_COOKIE names `version`, picked at a weight in from..to. */
export function canaryCookieRegex(version: Version, weights: { from: number; to: number }): string {
    const value = `${version.replace(/\./g, "\\.")}-w(${integerRangeRegex(weights.from, weights.to)})`;
    return `^(.*?;\\s*)?${CANARY_COOKIE}=${value}(;.*)?$`;
}

/** The Set-Cookie header of the weighted route to `version`: a session cookie, for the whole site. */
export function canarySetCookie(version: Version, weight: number): string {
    return `${CANARY_COOKIE}=${canaryCookieValue(version, weight)}; Path=/; HttpOnly; SameSite=Lax`;
}

function destination(component: Component, namespace: string, version: Version | undefined, port?: number) {
    return {
        host: serviceHost(component, namespace),
        ...(version ? { subset: subsetName(version) } : {}),
        ...(port ? { port: { number: port } } : {}),
    };
}

/** The VirtualService bound to the ingress Gateway: who reaches which voting-app version. */
export function ingressVirtualService(plan: StagePlan, namespace: string): VirtualServiceManifest {
    const useSubsets = plan.stage.meshRouting;
    const http: Record<string, unknown>[] = [];
    const routesTo = new Set<Version>();
    const weights = Object.entries(plan.defaultAppWeights) as [Version, number][];
    const flaggedDiffers = weights.length !== 1 || weights[0][0] !== plan.flaggedAppVersion;
    if (useSubsets && flaggedDiffers) {
        http.push({
            name: "feature-flag",
            match: [{ headers: { cookie: { regex: FEATURE_FLAG_COOKIE_REGEX } } }],
            route: [{ destination: destination("voting-app", namespace, plan.flaggedAppVersion, APP_PORT) }],
        });
        routesTo.add(plan.flaggedAppVersion);
    }
    // Sticky weighted canary: users the weight already placed stay where it placed them.
    for (const { version, weights: range } of stickyAssignment(plan)) {
        http.push({
            name: `sticky-${subsetName(version)}`,
            match: [{ headers: { cookie: { regex: canaryCookieRegex(version, range) } } }],
            route: [{ destination: destination("voting-app", namespace, version, APP_PORT) }],
        });
    }
    http.push({
        name: "default",
        route: weights.map(([version, weight]) => {
            routesTo.add(version);
            return {
                destination: destination("voting-app", namespace, useSubsets ? version : undefined, APP_PORT),
                ...(weights.length > 1 ? { weight } : {}),
                ...(plan.sticky
                    ? { headers: { response: { add: { "set-cookie": canarySetCookie(version, plan.sticky.weight) } } } }
                    : {}),
            };
        }),
    });
    return {
        name: "voting-app",
        component: "voting-app",
        spec: { hosts: ["*"], gateways: [APP_GATEWAY_NAME], http },
        routesTo: useSubsets
            ? [...routesTo].sort().map((version) => ({ component: "voting-app" as Component, version }))
            : [],
    };
}

function sourceLabels(route: MeshRoute) {
    return { app: route.from.component, version: route.from.version };
}

/** VirtualServices for voting-analytics (HTTP) and voting-storage (TCP), mesh-routing stages only. */
export function serviceVirtualServices(plan: StagePlan, namespace: string): VirtualServiceManifest[] {
    if (!plan.stage.meshRouting) return [];
    const routesTo = (component: Component) => plan.stage.routes.filter((r) => r.to.component === component);
    const targets = (routes: MeshRoute[]) => [...new Set(routes.map((r) => r.to.version))].sort();

    const analyticsRoutes = routesTo("voting-analytics");
    const analytics: VirtualServiceManifest = {
        name: "voting-analytics",
        component: "voting-analytics",
        spec: {
            hosts: [serviceHost("voting-analytics", namespace)],
            http: targets(analyticsRoutes).map((version) => ({
                name: `to-${subsetName(version)}`,
                match: analyticsRoutes
                    .filter((r) => r.to.version === version)
                    .map((r) => ({ sourceLabels: sourceLabels(r) })),
                route: [{ destination: destination("voting-analytics", namespace, version, APP_PORT) }],
            })),
        },
        routesTo: targets(analyticsRoutes).map((version) => ({ component: "voting-analytics", version })),
    };

    const storageRoutes = routesTo("voting-storage");
    const storage: VirtualServiceManifest = {
        name: "voting-storage",
        component: "voting-storage",
        spec: {
            hosts: [serviceHost("voting-storage", namespace)],
            tcp: targets(storageRoutes).map((version) => {
                const port = STORAGE_ENGINES[version as StorageVersion].port;
                return {
                    match: storageRoutes
                        .filter((r) => r.to.version === version)
                        .map((r) => ({ port, sourceLabels: sourceLabels(r) })),
                    route: [{ destination: destination("voting-storage", namespace, version, port) }],
                };
            }),
        },
        routesTo: targets(storageRoutes).map((version) => ({ component: "voting-storage", version })),
    };
    return [analytics, storage];
}

export function peerAuthenticationSpec(): Record<string, unknown> {
    return { mtls: { mode: "STRICT" } };
}
