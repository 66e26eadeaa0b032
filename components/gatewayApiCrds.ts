import * as fs from "fs";
import * as path from "path";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import {
    GATEWAY_API_CRDS_FILE,
    gatewayApiBundleVersion,
    GatewayApiChannelFile,
    KubernetesManifest,
} from "../stages/gatewayApi";

/** Every object of the vendored standard channel (CRDs, the safe-upgrades admission policy and its binding). */
function gatewayApiStandardChannel(): KubernetesManifest[] {
    const file = JSON.parse(fs.readFileSync(path.join(__dirname, "..", GATEWAY_API_CRDS_FILE), "utf8"));
    return (file as GatewayApiChannelFile).objects;
}

/** What the API server reports (a CRD's accepted names, stored versions) is not part of what is applied. */
function withoutStatus(manifest: KubernetesManifest): KubernetesManifest {
    const copy = { ...manifest };
    delete copy.status;
    return copy;
}

/** Server-side apply takes the fields over from whichever manager (an earlier stack, kubectl) set them. */
function withPatchForce(manifest: KubernetesManifest): KubernetesManifest {
    const { metadata } = manifest;
    return {
        ...manifest,
        metadata: { ...metadata, annotations: { ...metadata.annotations, "pulumi.com/patchForce": "true" } },
    };
}

/**
 * Gateway API's standard channel (its CRDs and the safe-upgrades admission policy), at the version
 * the program's Istio supports.
 *
 * Applied as `*Patch` resources (server-side apply, which creates an object that is missing and
 * takes over one that exists) and retained on delete: switching the stack to traffic.api=istio
 * forgets them instead of deleting them, since deleting a CRD deletes every object of its kind in
 * the cluster, including other owners' routes; switching back finds them there, where a plain
 * create would fail with AlreadyExists (provider 4.29 on).
 */
export class GatewayApiCrds extends pulumi.ComponentResource {
    public readonly version: pulumi.Output<string>;
    public readonly crdNames: pulumi.Output<string[]>;

    /**
     * @param name logical name; children are named after it
     * @param opts standard component options: give the Kubernetes provider through `providers`
     */
    constructor(name: string, opts?: pulumi.ComponentResourceOptions) {
        super("voting:traffic:GatewayApiCrds", name, {}, opts);
        const childOpts = { parent: this, retainOnDelete: true };
        const crds: k8s.apiextensions.v1.CustomResourceDefinitionPatch[] = [];
        const policies: pulumi.Resource[] = [];
        const standardChannel = gatewayApiStandardChannel();
        for (const manifest of standardChannel.map(withoutStatus).map(withPatchForce)) {
            const objectName = manifest.metadata.name;
            switch (manifest.kind) {
                case "CustomResourceDefinition":
                    crds.push(
                        new k8s.apiextensions.v1.CustomResourceDefinitionPatch(
                            objectName,
                            manifest as unknown as k8s.apiextensions.v1.CustomResourceDefinitionPatchArgs,
                            childOpts,
                        ),
                    );
                    break;
                case "ValidatingAdmissionPolicy":
                    policies.push(
                        new k8s.admissionregistration.v1.ValidatingAdmissionPolicyPatch(
                            objectName,
                            manifest as unknown as k8s.admissionregistration.v1.ValidatingAdmissionPolicyPatchArgs,
                            childOpts,
                        ),
                    );
                    break;
                case "ValidatingAdmissionPolicyBinding":
                    policies.push(
                        new k8s.admissionregistration.v1.ValidatingAdmissionPolicyBindingPatch(
                            objectName,
                            manifest as unknown as k8s.admissionregistration.v1.ValidatingAdmissionPolicyBindingPatchArgs,
                            { ...childOpts, dependsOn: policies.slice() },
                        ),
                    );
                    break;
                default:
                    throw new Error(`Gateway API's standard channel holds a ${manifest.kind}: teach GatewayApiCrds it`);
            }
        }
        this.version = pulumi.output(gatewayApiBundleVersion(standardChannel));
        this.crdNames = pulumi.all(crds.map((crd) => crd.metadata.apply((m) => m!.name!)));
        this.registerOutputs({ version: this.version, crdNames: this.crdNames });
    }
}
