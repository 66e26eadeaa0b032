/**
 * What the program knows of Istio's Helm charts and of how Istio is told to act on a namespace:
 * the charts it installs, how their values merge, the labels the gateway chart gives its pods, the
 * gateway Service's ports. No Pulumi in here: `components/istioMesh.ts` turns it into releases.
 */

/** Istio's Helm charts the program installs (istio.install=true), in install order. */
export const ISTIO_CHARTS = ["base", "istiod", "gateway"] as const;
export type IstioChart = (typeof ISTIO_CHARTS)[number];

/** Helm values: a tree of plain objects, arrays and scalars. */
export type HelmValues = { [key: string]: unknown };

/**
 * Helm's own rule for values given on top of others (`-f extra.yaml`): objects merge key by key,
 * anything else (scalars, arrays) is replaced by the value on top.
 */
export function mergeHelmValues(base: HelmValues, top: HelmValues): HelmValues {
    const merged: HelmValues = { ...base };
    for (const [key, value] of Object.entries(top)) {
        const under = merged[key];
        merged[key] = isHelmValues(under) && isHelmValues(value) ? mergeHelmValues(under, value) : value;
    }
    return merged;
}

/** A Helm values object (not an array, not null). */
export function isHelmValues(value: unknown): value is HelmValues {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * The labels Istio's `gateway` chart puts on the gateway pods, hence what a Gateway must select.
 * Mirrors the chart's `gateway.selectorLabels` helper: `app` is the gateway's name, `istio` the
 * name without its "istio-" prefix, each overridable through the chart's `labels` value.
 */
export function gatewaySelectorLabels(
    gatewayName: string,
    labels: Record<string, string> = {},
): Record<string, string> {
    return { istio: labels.istio || gatewayName.replace(/^istio-/, "") };
}

/**
 * The name the `gateway` chart gives its Service and Deployment (its `gateway.name` helper): the
 * `name` value, else the release name.
 */
export function gatewayServiceName(releaseName: string, values: HelmValues = {}): string {
    return (typeof values.name === "string" && values.name) || releaseName || "istio-ingressgateway";
}

/**
 * The ServiceAccount the `gateway` chart runs its pods under (its `gateway.serviceAccountName`
 * helper): `serviceAccount.name`, else the gateway's name while the chart creates the account
 * (`serviceAccount.create`, true by default), else the namespace's `default`.
 */
export function gatewayServiceAccountName(releaseName: string, values: HelmValues = {}): string {
    const account = (values.serviceAccount ?? {}) as { create?: unknown; name?: unknown };
    const named = typeof account.name === "string" && account.name ? account.name : undefined;
    if (account.create === false) return named ?? "default";
    return named ?? gatewayServiceName(releaseName, values);
}

/** The ports the gateway chart's Service exposes by default (status, HTTP, HTTPS). */
export const GATEWAY_SERVICE_PORTS = [15021, 80, 443];

/**
 * Azure's load balancer probes each port of a LoadBalancer Service; the gateway answers 404 on
 * "/" of port 80 until a route matches, so the probe must go to the gateway's readiness endpoint
 * (status port 15021, /healthz/ready) or the external IP never answers.
 */
export function azureHealthProbeAnnotations(servicePorts: number[] = GATEWAY_SERVICE_PORTS): Record<string, string> {
    const annotations: Record<string, string> = {
        "service.beta.kubernetes.io/azure-load-balancer-health-probe-request-path": "/healthz/ready",
    };
    for (const port of servicePorts) {
        annotations[`service.beta.kubernetes.io/port_${port}_health-probe_protocol`] = "http";
        annotations[`service.beta.kubernetes.io/port_${port}_health-probe_port`] = "15021";
        annotations[`service.beta.kubernetes.io/port_${port}_health-probe_request-path`] = "/healthz/ready";
    }
    return annotations;
}

/** The namespace labels that turn on sidecar injection: by revision (istio.io/rev), or the default injector. */
export function injectionLabels(revision?: string): Record<string, string> {
    return revision ? { "istio.io/rev": revision } : { "istio-injection": "enabled" };
}
