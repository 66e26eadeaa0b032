/**
 * Kubernetes Gateway API: a Gateway bound to the ingress gateway's Service, HTTPRoutes at the
 * ingress and in the mesh (parent: a Service, Istio's "mesh" attachment), one Service per version.
 *
 * Gateway API has no subsets, so each version a route names gets a Service of its own
 * (voting-app-v2-0, selecting app and version): created before the routes that name it, deleted
 * after they stop naming it, as DestinationRule fragments are in Istio's API. Its routes cannot
 * match on the calling workload either (Istio's `sourceLabels`), so the app names its version on
 * every call to analytics (APP_VERSION_HEADER) and the mesh route to analytics matches on that.
 * Storage needs no route: the voting-storage Service gives each engine its own port, whose named
 * target port only that engine's pods declare, so every client reaches only its own engine.
 */
import { ingressRules, ingressTargets, meshRoutesInto } from "../meshManifests";
import { Component, subsetName, StagePlan, Version } from "../model";
import { APP_GATEWAY_NAME, APP_PORT, APP_VERSION_HEADER } from "../names";
import type { IngressGateway, TrafficNamespaces, TrafficRoute, TrafficRouter, VersionBackend } from "./router";

const GATEWAY_API = "gateway.networking.k8s.io/v1";
/** The Gateway's one listener: plain HTTP on port 80, as Istio's Gateway server. */
const LISTENER = "http";

/** The Service of one version of a component: voting-app-v2-0. */
export function versionServiceName(component: Component, version: Version): string {
    return `${component}-${subsetName(version)}`;
}

function backendRef(component: Component, version: Version | undefined) {
    return { name: version ? versionServiceName(component, version) : component, port: APP_PORT };
}

/** A Service per version that some route names: the app's and analytics' (HTTP on APP_PORT). */
function versionServices(plan: StagePlan): VersionBackend[] {
    const routed: Component[] = ["voting-app", "voting-analytics"];
    return routed.flatMap((component) =>
        plan.subsets[component].map((version) => ({
            apiVersion: "v1",
            kind: "Service",
            name: versionServiceName(component, version),
            labels: { app: component, version },
            workload: { component, version },
            spec: {
                selector: { app: component, version },
                ports: [{ name: "http", port: APP_PORT, targetPort: APP_PORT, protocol: "TCP", appProtocol: "http" }],
            },
        })),
    );
}

function ingressHttpRoute(plan: StagePlan, namespaces: TrafficNamespaces): TrafficRoute {
    const rules = ingressRules(plan);
    return {
        apiVersion: GATEWAY_API,
        kind: "HTTPRoute",
        name: "voting-app",
        spec: {
            parentRefs: [{ name: APP_GATEWAY_NAME, namespace: namespaces.gateway, sectionName: LISTENER }],
            // Rules are tried in order where their matches tie (one header each, the flag's first),
            // and a rule with matches outranks the default one, which has none.
            rules: rules.map((rule) => ({
                name: rule.name,
                ...(rule.cookieRegex
                    ? {
                          matches: [
                              { headers: [{ type: "RegularExpression", name: "cookie", value: rule.cookieRegex }] },
                          ],
                      }
                    : {}),
                backendRefs: rule.backends.map((backend) => ({
                    ...backendRef("voting-app", backend.version),
                    ...(backend.weight !== undefined ? { weight: backend.weight } : {}),
                    ...(backend.setCookie
                        ? {
                              filters: [
                                  {
                                      type: "ResponseHeaderModifier",
                                      responseHeaderModifier: {
                                          add: [{ name: "set-cookie", value: backend.setCookie }],
                                      },
                                  },
                              ],
                          }
                        : {}),
                })),
            })),
        },
        routesTo: ingressTargets(rules).map((version) => ({ component: "voting-app", version })),
    };
}

/** app -> analytics: an HTTPRoute whose parent is the voting-analytics Service, one rule per target version. */
function meshHttpRoutes(plan: StagePlan): TrafficRoute[] {
    if (!plan.stage.meshRouting) return [];
    const analytics = meshRoutesInto(plan, "voting-analytics");
    return [
        {
            apiVersion: GATEWAY_API,
            kind: "HTTPRoute",
            name: "voting-analytics",
            spec: {
                parentRefs: [{ group: "", kind: "Service", name: "voting-analytics", port: APP_PORT }],
                rules: analytics.map(({ version, from }) => ({
                    name: `to-${subsetName(version)}`,
                    matches: from.map((f) => {
                        if (f.component !== "voting-app")
                            throw new Error(`gateway-api: no header names the version of ${f.component}`);
                        return { headers: [{ type: "Exact", name: APP_VERSION_HEADER, value: f.version }] };
                    }),
                    backendRefs: [backendRef("voting-analytics", version)],
                })),
            },
            routesTo: analytics.map(({ version }) => ({ component: "voting-analytics", version })),
        },
    ];
}

export const gatewayApiRouter: TrafficRouter = {
    api: "gateway-api",
    gateway: {
        apiVersion: GATEWAY_API,
        kind: "Gateway",
        name: APP_GATEWAY_NAME,
        // Beside the gateway's Service: Istio binds a Hostname address only to a Service in the
        // Gateway's own namespace (elsewhere: AddressNotUsable, IST0171, and nothing is served).
        namespace: "gateway",
        reads: ["service", "gatewayClassName", "appNamespace"],
        spec: (ingress: Partial<IngressGateway>) => ({
            gatewayClassName: ingress.gatewayClassName,
            // Istio's "manual deployment": bound to the gateway the program installs (or the one
            // istio.gatewayName names), through its Service, so both APIs serve users from the same
            // pods and load-balancer address, and switching API keeps that address.
            addresses: [
                {
                    type: "Hostname",
                    value: `${ingress.service!.name}.${ingress.service!.namespace}.svc.cluster.local`,
                },
            ],
            // The routes come from the app's namespace only (every namespace carries its name as a label).
            listeners: [
                {
                    name: LISTENER,
                    port: 80,
                    protocol: "HTTP",
                    allowedRoutes: {
                        namespaces: {
                            from: "Selector",
                            selector: { matchLabels: { "kubernetes.io/metadata.name": ingress.appNamespace } },
                        },
                    },
                },
            ],
        }),
    },
    versionBackends: (plan) => versionServices(plan),
    ingressRoute: ingressHttpRoute,
    meshRoutes: (plan) => meshHttpRoutes(plan),
};
