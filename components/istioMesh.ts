import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { GatewayIdentity } from "../stages/authorization";
import {
    gatewaySelectorLabels,
    gatewayServiceAccountName,
    gatewayServiceName,
    HelmValues,
    IstioChart,
    mergeHelmValues,
} from "../stages/istioCharts";

export interface IstioMeshArgs {
    /** Install Istio from its Helm charts (false: the cluster already runs Istio and the gateway). */
    install: boolean;
    version: string;
    chartRepository: string;
    gatewayName: string;
    gatewayNamespace: string;
    /** The ServiceAccount of a gateway already installed (install=false); none: gatewayName. */
    gatewayServiceAccount?: string;
    /** Type of the gateway chart's Service: LoadBalancer, or NodePort/ClusterIP where nothing assigns load-balancer addresses. */
    gatewayServiceType: "LoadBalancer" | "NodePort" | "ClusterIP";
    /** Extra annotations for the gateway's LoadBalancer Service (the AKS health probe). */
    gatewayServiceAnnotations: Record<string, string>;
    /** The stack's extra Helm values per chart (istio.values), merged over the program's own. */
    values: Record<IstioChart, HelmValues>;
}

/**
 * Istio from Helm: `base` (CRDs) -> `istiod` -> `gateway`, each waiting for the one before.
 * `readyForMeshObjects` is what Istio objects and sidecar-injected pods must depend on.
 */
export class IstioMesh extends pulumi.ComponentResource {
    public readonly gatewaySelector: pulumi.Output<Record<string, string>>;
    /** The ingress gateway's Service (Gateway API's Gateway is bound to it by address). */
    public readonly gatewayService: pulumi.Output<{ name: string; namespace: string }>;
    /** The ingress gateway's mTLS identity (its namespace and ServiceAccount), which the app's policies let in. */
    public readonly gatewayIdentity: pulumi.Output<GatewayIdentity>;
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
            const base = new k8s.helm.v3.Release(
                `${name}-base`,
                {
                    name: "istio-base",
                    namespace: "istio-system",
                    createNamespace: true,
                    ...chart("base", { defaultRevision: "default" }),
                },
                childOpts,
            );
            const istiod = new k8s.helm.v3.Release(
                `${name}-istiod`,
                {
                    name: "istiod",
                    namespace: "istio-system",
                    // The istiod chart reads `resources` at the top level (Istio >= 1.24; `pilot.resources` is ignored).
                    ...chart("istiod", { resources: { requests: { cpu: "500m", memory: "2048Mi" } } }),
                },
                { ...childOpts, dependsOn: [base] },
            );
            const gatewayNamespace = new k8s.core.v1.Namespace(
                `${name}-gateway-namespace`,
                {
                    metadata: { name: args.gatewayNamespace },
                },
                { ...childOpts, dependsOn: [istiod] },
            );
            gatewayRelease = new k8s.helm.v3.Release(
                `${name}-gateway`,
                {
                    name: args.gatewayName,
                    namespace: gatewayNamespace.metadata.name,
                    ...chart("gateway", {
                        service: {
                            type: args.gatewayServiceType,
                            annotations:
                                args.gatewayServiceType === "LoadBalancer" ? args.gatewayServiceAnnotations : {},
                        },
                        resources: { requests: { cpu: "100m", memory: "128Mi" } },
                    }),
                },
                { ...childOpts, dependsOn: [istiod] },
            );
            this.readyForMeshObjects = [base, istiod];
        } else {
            this.readyForMeshObjects = [];
        }

        // Derived from the release actually created (its name and label values), as the chart does.
        this.gatewaySelector = gatewayRelease
            ? pulumi
                  .all([gatewayRelease.name, gatewayRelease.values])
                  .apply(([releaseName, values]) =>
                      gatewaySelectorLabels(gatewayServiceName(releaseName, values ?? {}), values?.labels ?? {}),
                  )
            : pulumi.output(gatewaySelectorLabels(args.gatewayName));

        // The gateway pods' ServiceAccount, as the chart names it from the release actually created.
        this.gatewayIdentity = gatewayRelease
            ? pulumi.all([gatewayRelease.name, gatewayRelease.values]).apply(([releaseName, values]) => ({
                  namespace: args.gatewayNamespace,
                  serviceAccount: gatewayServiceAccountName(releaseName, values ?? {}),
              }))
            : pulumi.output({
                  namespace: args.gatewayNamespace,
                  serviceAccount: args.gatewayServiceAccount ?? args.gatewayName,
              });

        // The gateway's Service, read for its address. With the release, its ID comes from the
        // release's status: unknown until the release exists, so a preview on a cluster where
        // Istio is not installed yet plans the read instead of failing on a Service not there.
        // The chart names the Service after its `name` value, else after the release.
        this.gatewayService = gatewayRelease
            ? pulumi.all([gatewayRelease.status, gatewayRelease.values]).apply(([status, values]) => ({
                  name: gatewayServiceName(status.name, values ?? {}),
                  namespace: status.namespace,
              }))
            : pulumi.output({ name: args.gatewayName, namespace: args.gatewayNamespace });
        const ingressServiceId = this.gatewayService.apply(({ name, namespace }) => `${namespace}/${name}`);
        const ingressService = k8s.core.v1.Service.get(`${name}-ingress-service`, ingressServiceId, {
            ...childOpts,
            dependsOn: gatewayRelease ? [gatewayRelease] : [],
        });
        this.ingressIp = ingressService.status.apply((status) => {
            const ingress = status?.loadBalancer?.ingress?.[0];
            return ingress?.ip || ingress?.hostname || undefined;
        });
        this.version = pulumi.output(args.install ? args.version : "pre-installed");
        this.registerOutputs({
            gatewaySelector: this.gatewaySelector,
            gatewayService: this.gatewayService,
            gatewayIdentity: this.gatewayIdentity,
            ingressIp: this.ingressIp,
            version: this.version,
        });
    }
}
