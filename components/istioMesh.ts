import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { HelmValues, IstioChart } from "../stages/settings";

export interface IstioMeshArgs {
    /** Install Istio from its Helm charts (false: the cluster already runs Istio and the gateway). */
    install: boolean;
    version: string;
    chartRepository: string;
    gatewayName: string;
    gatewayNamespace: string;
    /** Type of the gateway chart's Service: LoadBalancer, or NodePort/ClusterIP where nothing assigns load-balancer addresses. */
    gatewayServiceType: "LoadBalancer" | "NodePort" | "ClusterIP";
    /** Extra annotations for the gateway's LoadBalancer Service (the AKS health probe). */
    gatewayServiceAnnotations: Record<string, string>;
    /** The stack's extra Helm values per chart (istio.values), merged over the program's own. */
    values: Record<IstioChart, HelmValues>;
}

/**
 * Helm's own rule for values given on top of others (`-f extra.yaml`): objects merge key by key,
 * anything else (scalars, arrays) is replaced by the value on top.
 */
export function mergeHelmValues(base: HelmValues, top: HelmValues): HelmValues {
    const merged: HelmValues = { ...base };
    for (const [key, value] of Object.entries(top)) {
        const under = merged[key];
        merged[key] = isValuesObject(under) && isValuesObject(value) ? mergeHelmValues(under, value) : value;
    }
    return merged;
}

function isValuesObject(value: unknown): value is HelmValues {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * The labels Istio's `gateway` chart puts on the gateway pods, hence what a Gateway must select.
 * Mirrors the chart's `gateway.selectorLabels` helper: `app` is the gateway's name, `istio` the
 * name without its "istio-" prefix, each overridable through the chart's `labels` value.
 */
export function gatewaySelectorLabels(gatewayName: string, labels: Record<string, string> = {}): Record<string, string> {
    return { istio: labels.istio || gatewayName.replace(/^istio-/, "") };
}

/**
 * Azure's load balancer probes each port of a LoadBalancer Service; the gateway answers 404 on
 * "/" of port 80 until a route matches, so the probe must go to the gateway's readiness endpoint
 * (status port 15021, /healthz/ready) or the external IP never answers.
 */
export function azureHealthProbeAnnotations(servicePorts: number[]): Record<string, string> {
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

/** The ports the gateway chart's Service exposes by default (status, HTTP, HTTPS). */
export const GATEWAY_SERVICE_PORTS = [15021, 80, 443];

/**
 * Istio from Helm: `base` (CRDs) -> `istiod` -> `gateway`, each waiting for the one before.
 * `readyForMeshObjects` is what Istio objects and sidecar-injected pods must depend on.
 */
export class IstioMesh extends pulumi.ComponentResource {
    public readonly gatewaySelector: pulumi.Output<Record<string, string>>;
    public readonly ingressIp: pulumi.Output<string | undefined>;
    public readonly version: pulumi.Output<string>;
    /** Resources that must be ready before any Istio object or sidecar-injected pod. */
    public readonly readyForMeshObjects: pulumi.Resource[];

    /**
     * @param name logical name; children are named after it
     * @param args what to install (or find already installed) and how the gateway is exposed
     * @param opts standard component options: give the Kubernetes provider through `providers`
     */
    constructor(name: string, args: IstioMeshArgs, opts?: pulumi.ComponentResourceOptions) {
        super("voting:istio:IstioMesh", name, {}, opts);
        const childOpts = { parent: this };
        const chart = (chartName: IstioChart, programValues: HelmValues) => ({
            chart: chartName,
            version: args.version,
            repositoryOpts: { repo: args.chartRepository },
            values: mergeHelmValues(programValues, args.values[chartName]),
        });

        let gatewayRelease: k8s.helm.v3.Release | undefined;
        if (args.install) {
            const base = new k8s.helm.v3.Release(`${name}-base`, {
                name: "istio-base",
                namespace: "istio-system",
                createNamespace: true,
                ...chart("base", { defaultRevision: "default" }),
            }, childOpts);
            const istiod = new k8s.helm.v3.Release(`${name}-istiod`, {
                name: "istiod",
                namespace: "istio-system",
                ...chart("istiod", { pilot: { resources: { requests: { cpu: "500m", memory: "2048Mi" } } } }),
            }, { ...childOpts, dependsOn: [base] });
            const gatewayNamespace = new k8s.core.v1.Namespace(`${name}-gateway-namespace`, {
                metadata: { name: args.gatewayNamespace },
            }, { ...childOpts, dependsOn: [istiod] });
            gatewayRelease = new k8s.helm.v3.Release(`${name}-gateway`, {
                name: args.gatewayName,
                namespace: gatewayNamespace.metadata.name,
                ...chart("gateway", {
                    service: {
                        type: args.gatewayServiceType,
                        annotations: args.gatewayServiceType === "LoadBalancer" ? args.gatewayServiceAnnotations : {},
                    },
                    resources: { requests: { cpu: "100m", memory: "128Mi" } },
                }),
            }, { ...childOpts, dependsOn: [istiod] });
            this.readyForMeshObjects = [base, istiod];
        } else {
            this.readyForMeshObjects = [];
        }

        // Derived from the release actually created (its name and label values), as the chart does.
        this.gatewaySelector = gatewayRelease
            ? pulumi
                  .all([gatewayRelease.name, gatewayRelease.values])
                  .apply(([releaseName, values]) =>
                      gatewaySelectorLabels(values?.name || releaseName, values?.labels ?? {}),
                  )
            : pulumi.output(gatewaySelectorLabels(args.gatewayName));

        // The gateway's Service, read for its address. With the release, its ID comes from the
        // release's status: unknown until the release exists, so a preview on a cluster where
        // Istio is not installed yet plans the read instead of failing on a Service not there.
        const ingressServiceId = gatewayRelease
            ? pulumi.interpolate`${gatewayRelease.status.namespace}/${gatewayRelease.status.name}`
            : pulumi.output(`${args.gatewayNamespace}/${args.gatewayName}`);
        const ingressService = k8s.core.v1.Service.get(`${name}-ingress-service`, ingressServiceId, {
            ...childOpts,
            dependsOn: gatewayRelease ? [gatewayRelease] : [],
        });
        this.ingressIp = ingressService.status.apply((status) => {
            const ingress = status?.loadBalancer?.ingress?.[0];
            return ingress?.ip || ingress?.hostname || undefined;
        });
        this.version = pulumi.output(args.install ? args.version : "pre-installed");
        this.registerOutputs({ gatewaySelector: this.gatewaySelector, ingressIp: this.ingressIp, version: this.version });
    }
}
