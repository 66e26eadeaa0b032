/**
 * One interface for the traffic APIs the program speaks, one file per API behind it (as Flagger
 * keeps one router per API in `pkg/router/`): the stage model (../model.ts) says what flows where,
 * each API's file says how. No Pulumi in here: `VotingApp` registers what a router returns, in the
 * make-before-break order the model's `changeOrder` gives, whichever the API.
 */
import type { StagePlan, WorkloadRef } from "../model";

export const TRAFFIC_APIS = ["istio", "gateway-api"] as const;
/** istio: Istio's Gateway, VirtualService and DestinationRule. gateway-api: Kubernetes Gateway API. */
export type TrafficApi = (typeof TRAFFIC_APIS)[number];

/** Where the traffic objects live: the app's namespace, and the ingress gateway's (istio.gatewayNamespace). */
export interface TrafficNamespaces {
    app: string;
    gateway: string;
}

/** A namespaced Kubernetes object a router asks for (in the app's namespace unless it says otherwise). */
export interface TrafficObject {
    apiVersion: string;
    kind: string;
    name: string;
    labels?: Record<string, string>;
    spec: Record<string, unknown>;
}

/** What lets a route name one version of one component: a DestinationRule subset, or a Service of its own. */
export interface VersionBackend extends TrafficObject {
    workload: WorkloadRef;
}

/** A route, and the versions it sends requests to: each must be served (and its backend defined) before it is applied. */
export interface TrafficRoute extends TrafficObject {
    routesTo: WorkloadRef[];
}

/** The ingress gateway the app is bound to: its pods' labels and its Service (both made by Istio's gateway chart). */
export interface IngressGateway {
    podSelector: Record<string, string>;
    service: { name: string; namespace: string };
    /** Gateway API's GatewayClass (traffic.gatewayClass). */
    gatewayClassName: string;
    /** The app's namespace, whose routes the gateway takes. */
    appNamespace: string;
}

export interface TrafficRouter {
    api: TrafficApi;
    /** The object that binds the app to the ingress gateway's port 80 (its spec from the gateway the mesh made). */
    gateway: Omit<TrafficObject, "spec"> & {
        /**
         * The namespace it lives in: Istio's Gateway selects the gateway's pods from the app's namespace;
         * Istio binds a Gateway API Gateway's Hostname address only to a Service in its own namespace.
         */
        namespace: keyof TrafficNamespaces;
        /** What of the ingress gateway the spec reads (so that a preview waits on nothing else). */
        reads: (keyof IngressGateway)[];
        spec(ingress: Partial<IngressGateway>): Record<string, unknown>;
    };
    /** One per version a route of the plan names (none where Services' round robin routes). */
    versionBackends(plan: StagePlan, namespaces: TrafficNamespaces): VersionBackend[];
    /** Who among users reaches which app version: bound to the gateway. */
    ingressRoute(plan: StagePlan, namespaces: TrafficNamespaces): TrafficRoute;
    /** Service-to-service routes inside the mesh (mesh-routing stages only). */
    meshRoutes(plan: StagePlan, namespaces: TrafficNamespaces): TrafficRoute[];
}
