/**
 * The traffic API's objects (its router's, stages/traffic/): the gateway binding, a backend per
 * routed version, the ingress route and the routes inside the mesh, in make-before-break order.
 *
 * A route is applied only once every version it routes to is defined and served (creates, which
 * Pulumi runs before their dependents). Between the in-place changes, the stage's change order
 * decides (stages/model.ts, changeOrder): entering a stage that expands, the routes inside the
 * mesh first, then the ingress route; one that contracts, the ingress route first.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { StagePlan } from "../../stages/model";
import { APP_NAMESPACE } from "../../stages/names";
import { IngressGateway, TrafficNamespaces, TrafficObject, TrafficRoute, TrafficRouter } from "../../stages/traffic";
import { AppScope, workloadKey } from "./scope";

export interface TrafficObjects {
    /** Per routed version (voting-app@2.0): its DestinationRule fragment or its Service. */
    backends: Map<string, pulumi.CustomResource>;
    /** The ingress route first, then the routes inside the mesh. */
    routes: pulumi.CustomResource[];
}

export function trafficObjects(
    { parent, meta }: AppScope,
    plan: StagePlan,
    args: {
        router: TrafficRouter;
        namespace: pulumi.Input<string>;
        gatewayNamespace: string;
        /** The ingress gateway (its pods' labels and its Service come from the mesh, as Outputs). */
        ingress: { [K in Exclude<keyof IngressGateway, "appNamespace">]: pulumi.Input<IngressGateway[K]> };
        /** What every traffic object waits for: the mesh, and the API's own CRDs. */
        ready: pulumi.Input<pulumi.Resource>[];
        deployments: Map<string, pulumi.CustomResource>;
        /** What the ingress route waits for beyond its backends: the allows of the gateway's calls. */
        ingressAllowed: pulumi.Resource[];
    },
): TrafficObjects {
    const { router } = args;
    // Pulumi names: the object's name, routes suffixed by their kind (voting-app-virtualservice,
    // voting-app-httproute), Services by "-service" beside the component's own Service.
    const namespaces: TrafficNamespaces = { app: APP_NAMESPACE, gateway: args.gatewayNamespace };
    const register = (
        object: TrafficObject,
        dependsOn: pulumi.Input<pulumi.Resource>[],
        namespace: pulumi.Input<string> = args.namespace,
    ) => {
        const opts = { parent, dependsOn: [...args.ready, ...dependsOn] };
        const metadata = { ...meta(object.name, object.labels), namespace };
        if (object.apiVersion === "v1" && object.kind === "Service")
            return new k8s.core.v1.Service(`${object.name}-service`, { metadata, spec: object.spec }, opts);
        const resourceName = ["Gateway", "DestinationRule"].includes(object.kind)
            ? object.name
            : `${object.name}-${object.kind.toLowerCase()}`;
        return new k8s.apiextensions.CustomResource(
            resourceName,
            { apiVersion: object.apiVersion, kind: object.kind, metadata, spec: object.spec },
            opts,
        );
    };
    const ingress = { ...args.ingress, appNamespace: APP_NAMESPACE };
    const { reads, spec: gatewaySpec, namespace: gatewayIn, ...gatewayObject } = router.gateway;
    const read = Object.fromEntries(reads.map((key) => [key, ingress[key]]));
    const gateway = register(
        { ...gatewayObject, spec: pulumi.output(read).apply(gatewaySpec) as unknown as Record<string, unknown> },
        [],
        gatewayIn === "app" ? args.namespace : namespaces.gateway,
    );

    const backends = new Map<string, pulumi.CustomResource>();
    for (const backend of router.versionBackends(plan, namespaces))
        backends.set(workloadKey(backend.workload), register(backend, []));

    const servedBy = (route: TrafficRoute) =>
        route.routesTo.flatMap((ref) => [backends.get(workloadKey(ref))!, args.deployments.get(workloadKey(ref))!]);
    const registerRoute = (route: TrafficRoute, dependsOn: pulumi.Resource[]) =>
        register(route, [...servedBy(route), ...dependsOn]);

    const ingressRoute = router.ingressRoute(plan, namespaces);
    // Without version backends the ingress route reaches every app pod: wait for them all.
    const appPods = plan.workloads
        .filter((wl) => wl.component === "voting-app")
        .map((wl) => args.deployments.get(workloadKey(wl))!);
    const inner = router.meshRoutes(plan, namespaces);
    if (plan.changeOrder === "expand") {
        const innerResources = inner.map((route) => registerRoute(route, []));
        const ingressResource = registerRoute(ingressRoute, [
            gateway,
            ...appPods,
            ...args.ingressAllowed,
            ...innerResources,
        ]);
        return { backends, routes: [ingressResource, ...innerResources] };
    }
    const ingressResource = registerRoute(ingressRoute, [gateway, ...appPods, ...args.ingressAllowed]);
    const innerResources = inner.map((route) => registerRoute(route, [ingressResource]));
    return { backends, routes: [ingressResource, ...innerResources] };
}
