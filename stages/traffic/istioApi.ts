/**
 * Istio's own traffic API: a Gateway, VirtualServices and DestinationRule subsets.
 *
 * Make before break (Istio's traffic-management best practice) is built into the shape: each
 * subset is its own DestinationRule fragment (Istio merges fragments for one host), and each
 * version its own Deployment. Entering a stage, new subsets and Deployments are therefore Pulumi
 * *creates*, which run before the VirtualService updates that depend on them; subsets and
 * Deployments a stage drops are Pulumi *deletes*, which run at the end of the update, after every
 * VirtualService has stopped routing to them.
 */
import { ingressRules, ingressTargets, meshRoutesInto } from "../meshManifests";
import { Component, STORAGE_ENGINES, StagePlan, StorageVersion, subsetName, Version, WorkloadRef } from "../model";
import { APP_GATEWAY_NAME, APP_PORT, serviceHost } from "../names";
import type { IngressGateway, TrafficRoute, TrafficRouter, VersionBackend } from "./router";

const NETWORKING = "networking.istio.io/v1";

function destination(component: Component, namespace: string, version: Version | undefined, port?: number) {
    return {
        host: serviceHost(component, namespace),
        ...(version ? { subset: subsetName(version) } : {}),
        ...(port ? { port: { number: port } } : {}),
    };
}

function sourceLabels(from: WorkloadRef) {
    return { app: from.component, version: from.version };
}

/** One DestinationRule fragment per subset the plan's routes name (voting-app-v1-0). */
function destinationRuleFragments(plan: StagePlan, namespace: string): VersionBackend[] {
    return (Object.keys(plan.subsets) as Component[]).flatMap((component) =>
        plan.subsets[component].map((version) => ({
            apiVersion: NETWORKING,
            kind: "DestinationRule",
            name: `${component}-${subsetName(version)}`,
            labels: { app: component, version },
            workload: { component, version },
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

/** The VirtualService bound to the ingress Gateway: who reaches which voting-app version. */
function ingressVirtualService(plan: StagePlan, namespace: string): TrafficRoute {
    const rules = ingressRules(plan);
    const http = rules.map((rule) => ({
        name: rule.name,
        ...(rule.cookieRegex ? { match: [{ headers: { cookie: { regex: rule.cookieRegex } } }] } : {}),
        route: rule.backends.map((backend) => ({
            destination: destination("voting-app", namespace, backend.version, APP_PORT),
            ...(backend.weight !== undefined ? { weight: backend.weight } : {}),
            ...(backend.setCookie ? { headers: { response: { add: { "set-cookie": backend.setCookie } } } } : {}),
        })),
    }));
    return {
        apiVersion: NETWORKING,
        kind: "VirtualService",
        name: "voting-app",
        spec: { hosts: ["*"], gateways: [APP_GATEWAY_NAME], http },
        routesTo: ingressTargets(rules).map((version) => ({ component: "voting-app", version })),
    };
}

/** VirtualServices for voting-analytics (HTTP, by the caller's labels) and voting-storage (TCP, by port and labels). */
function serviceVirtualServices(plan: StagePlan, namespace: string): TrafficRoute[] {
    if (!plan.stage.meshRouting) return [];
    const analytics = meshRoutesInto(plan, "voting-analytics");
    const storage = meshRoutesInto(plan, "voting-storage");
    return [
        {
            apiVersion: NETWORKING,
            kind: "VirtualService",
            name: "voting-analytics",
            spec: {
                hosts: [serviceHost("voting-analytics", namespace)],
                http: analytics.map(({ version, from }) => ({
                    name: `to-${subsetName(version)}`,
                    match: from.map((f) => ({ sourceLabels: sourceLabels(f) })),
                    route: [{ destination: destination("voting-analytics", namespace, version, APP_PORT) }],
                })),
            },
            routesTo: analytics.map(({ version }) => ({ component: "voting-analytics", version })),
        },
        {
            apiVersion: NETWORKING,
            kind: "VirtualService",
            name: "voting-storage",
            spec: {
                hosts: [serviceHost("voting-storage", namespace)],
                tcp: storage.map(({ version, from }) => {
                    const port = STORAGE_ENGINES[version as StorageVersion].port;
                    return {
                        match: from.map((f) => ({ port, sourceLabels: sourceLabels(f) })),
                        route: [{ destination: destination("voting-storage", namespace, version, port) }],
                    };
                }),
            },
            routesTo: storage.map(({ version }) => ({ component: "voting-storage", version })),
        },
    ];
}

export const istioApiRouter: TrafficRouter = {
    api: "istio",
    gateway: {
        apiVersion: NETWORKING,
        kind: "Gateway",
        name: APP_GATEWAY_NAME,
        namespace: "app",
        reads: ["podSelector"],
        spec: (ingress: Partial<IngressGateway>) => ({
            selector: ingress.podSelector,
            servers: [{ port: { number: 80, name: "http", protocol: "HTTP" }, hosts: ["*"] }],
        }),
    },
    versionBackends: (plan, namespaces) => destinationRuleFragments(plan, namespaces.app),
    ingressRoute: (plan, namespaces) => ingressVirtualService(plan, namespaces.app),
    meshRoutes: (plan, namespaces) => serviceVirtualServices(plan, namespaces.app),
};
