import * as containerservice from "@pulumi/azure-native/containerservice";
import * as resources from "@pulumi/azure-native/resources";
import * as pulumi from "@pulumi/pulumi";

export interface AksClusterArgs {
    location: string;
    nodeCount: number;
    nodeVmSize: string;
    /** Empty: AKS's default version. */
    kubernetesVersion?: string;
}

/**
 * A resource group and an RBAC-enabled AKS cluster with a system-assigned identity and one
 * system node pool. `kubeconfig` is the cluster user's kubeconfig, as a secret.
 */
export class AksCluster extends pulumi.ComponentResource {
    public readonly resourceGroupName: pulumi.Output<string>;
    public readonly clusterName: pulumi.Output<string>;
    public readonly kubeconfig: pulumi.Output<string>;
    public readonly location: pulumi.Output<string>;
    /** Object ID of the kubelet's managed identity (what pulls images). */
    public readonly kubeletObjectId: pulumi.Output<string>;

    /**
     * @param name logical name; children are named after it
     * @param args the cluster settings (location, pool, Kubernetes version)
     * @param opts standard component options: give the Azure provider through `providers`
     */
    constructor(name: string, args: AksClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        super("voting:azure:AksCluster", name, {}, opts);
        const childOpts = { parent: this };

        const resourceGroup = new resources.ResourceGroup(`${name}-rg`, { location: args.location }, childOpts);
        const cluster = new containerservice.ManagedCluster(
            `${name}-aks`,
            {
                resourceGroupName: resourceGroup.name,
                location: resourceGroup.location,
                dnsPrefix: name,
                enableRBAC: true,
                identity: { type: containerservice.ResourceIdentityType.SystemAssigned },
                kubernetesVersion: args.kubernetesVersion,
                agentPoolProfiles: [
                    {
                        name: "system",
                        mode: containerservice.AgentPoolMode.System,
                        count: args.nodeCount,
                        vmSize: args.nodeVmSize,
                        osType: containerservice.OSType.Linux,
                        type: containerservice.AgentPoolType.VirtualMachineScaleSets,
                    },
                ],
            },
            childOpts,
        );

        const credentials = containerservice.listManagedClusterUserCredentialsOutput(
            { resourceGroupName: resourceGroup.name, resourceName: cluster.name },
            { parent: this },
        );
        this.kubeconfig = pulumi.secret(
            credentials.kubeconfigs.apply((configs) => Buffer.from(configs[0].value, "base64").toString("utf8")),
        );
        this.resourceGroupName = resourceGroup.name;
        this.location = resourceGroup.location;
        this.kubeletObjectId = cluster.identityProfile.apply((profile) => {
            const objectId = profile?.kubeletidentity?.objectId;
            if (!objectId && !pulumi.runtime.isDryRun()) throw new Error("the AKS cluster reports no kubelet identity");
            return objectId ?? "";
        });
        this.clusterName = cluster.name;
        this.registerOutputs({
            resourceGroupName: this.resourceGroupName,
            clusterName: this.clusterName,
            kubeconfig: this.kubeconfig,
        });
    }
}
