/**
 * The names the program gives what it deploys, and the images each workload runs: one vocabulary
 * for the program, `render`, the tests and the end-to-end walk. No Pulumi in here.
 */
import { ALL_WORKLOADS, Component, versionSlug, WorkloadRef } from "./model";

/** The Pulumi project (Pulumi.yaml `name`), hence the prefix of every setting: `aks-istio-canary:stage`. */
export const PROJECT = "aks-istio-canary";

/** The namespace of the voting app: every workload, Service, Secret, volume and Istio object. */
export const APP_NAMESPACE = "voting";

/**
 * The ingress gateway when the stack does not name one: Pulumi.yaml's defaults of
 * `istio.gatewayName` and `istio.gatewayNamespace` (a unit test holds the two equal).
 */
export const DEFAULT_GATEWAY = { name: "istio-ingressgateway", namespace: "istio-ingress" } as const;

/** The Istio Gateway object that binds the app to the ingress gateway's port 80. */
export const APP_GATEWAY_NAME = "voting-app-gateway";

/** The port every app and analytics container listens on, and their Services expose. */
export const APP_PORT = 8080;

/** The session cookie of the sticky weighted canary (see `stickyAssignment` in model.ts). */
export const CANARY_COOKIE = "voting-canary";

/** The value of CANARY_COOKIE for a user the weight sent to `version` at `weight`: 2.0-w30. */
export function canaryCookieValue(version: string, weight: number): string {
    return `${version}-w${weight}`;
}

/** The MySQL database and user of storage 2.0 (the app contract). */
export const MYSQL_DATABASE = "votes";
export const MYSQL_USER = "voting";

/** The Deployment name of a workload: voting-app at 1.0 -> voting-app-1-0. */
export function workloadName(ref: WorkloadRef): string {
    return `${ref.component}-${versionSlug(ref.version)}`;
}

/** In-cluster DNS name of a component's Service. */
export function serviceHost(component: Component, namespace: string = APP_NAMESPACE): string {
    return `${component}.${namespace}.svc.cluster.local`;
}

/** Every app/analytics Deployment, i.e. every image the product builds. */
export const BUILT_WORKLOADS: WorkloadRef[] = ALL_WORKLOADS.filter((ref) => ref.component !== "voting-storage");

/** The setting that holds a built workload's image tag: images.voting-app-1-0. */
export function imageTagKey(ref: WorkloadRef): string {
    return `images.${workloadName(ref)}`;
}

/** app/Dockerfile's build arguments for a workload: COMPONENT=app|analytics, VERSION. */
export function buildArgsOf(ref: WorkloadRef): Record<string, string> {
    return { COMPONENT: ref.component === "voting-app" ? "app" : "analytics", VERSION: ref.version };
}

/**
 * The header the app sends on every call to analytics, naming its own version (the app contract,
 * app/src/app.ts): Gateway API's mesh route to analytics matches on it.
 */
export const APP_VERSION_HEADER = "x-voting-app-version";

/** The vote carry's pods: their `app` label and their ServiceAccount. */
export const CARRY_VOTES = "carry-votes";

/** The Job that carries the votes into MySQL on entering a stage (voteCarry): carry-votes-canary. */
export function carryJobName(stage: string): string {
    return `${CARRY_VOTES}-${stage}`;
}
