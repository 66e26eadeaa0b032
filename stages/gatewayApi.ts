/**
 * Gateway API's CRDs as the program installs them (traffic.gatewayApiCrds=install): the release's
 * standard channel, vendored at the version the Istio module this project builds and tests
 * requires (tools/istio/go.mod), by rig/vendor-gateway-api-crds.ts. No Pulumi in here.
 */

/** The vendored standard channel, relative to the repository root. */
export const GATEWAY_API_CRDS_FILE = "crds/gateway-api-standard.json";

/** Gateway API's release as Istio's go.mod requires it: "sigs.k8s.io/gateway-api v1.5.1". */
export function gatewayApiVersionOfIstio(istioGoMod: string): string {
    const found = /^\s*sigs\.k8s\.io\/gateway-api (v\d+\.\d+\.\d+)\b/m.exec(istioGoMod);
    if (!found) throw new Error("tools/istio/go.mod requires no sigs.k8s.io/gateway-api");
    return found[1];
}

export interface KubernetesManifest {
    apiVersion: string;
    kind: string;
    metadata: { name: string; annotations?: Record<string, string>; [key: string]: unknown };
    spec?: Record<string, unknown>;
    [key: string]: unknown;
}

/** The vendored file: where its objects come from, and the objects in the order they are applied. */
export interface GatewayApiChannelFile {
    source: string;
    version: string;
    channel: "standard";
    objects: KubernetesManifest[];
}

/** The bundle version Gateway API's CRDs carry (gateway.networking.k8s.io/bundle-version), one for all. */
export function gatewayApiBundleVersion(manifests: KubernetesManifest[]): string {
    const versions = new Set(
        manifests
            .filter((o) => o.kind === "CustomResourceDefinition")
            .map((o) => o.metadata.annotations?.["gateway.networking.k8s.io/bundle-version"]),
    );
    if (versions.size !== 1)
        throw new Error(`Gateway API CRDs of several bundle versions: ${[...versions].join(", ")}`);
    return [...versions][0]!;
}
