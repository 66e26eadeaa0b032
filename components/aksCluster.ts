import * as containerservice from "@pulumi/azure-native/containerservice";
import * as resources from "@pulumi/azure-native/resources";
import * as pulumi from "@pulumi/pulumi";
import { SYSTEM_POOL, WORKLOAD_POOL_MAX_SURGE, workloadPoolName } from "../stages/nodePools";

export interface AksClusterArgs {
    location: string;
    /** The workload pool: VM size, nodes at creation, the autoscaler's bounds. */
    nodeCount: number;
    nodeVmSize: string;
    minNodeCount: number;
    maxNodeCount: number;
    /** The system pool, fixed at creation. */
    systemNodeCount: number;
    systemNodeVmSize: string;
    /** Empty: AKS's default version. */
    kubernetesVersion?: string;
}

/**
 * A resource group and an RBAC-enabled AKS cluster with a system-assigned identity, a system node
 * pool for AKS's own pods (created with the cluster, never changed after), and a workload pool
 * for the app and Istio, autoscaled, whose VM size can change (a new pool replaces the old one:
 * created first, the old one drained and deleted last). `kubeconfig` is the cluster user's
 * kubeconfig, as a secret.
 */
export class AksCluster extends pulumi.ComponentResource {
    public readonly resourceGroupName: pulumi.Output<string>;
    public readonly clusterName: pulumi.Output<string>;
    public readonly kubeconfig: pulumi.Output<string>;
    public readonly location: pulumi.Output<string>;
    /** Object ID of the kubelet's managed identity (what pulls images). */
    public readonly kubeletObjectId: pulumi.Output<string>;
    /** The AKS name of the pool the app runs on (it changes with cluster.nodeVmSize). */
    public readonly workloadPoolName: pulumi.Output<string>;

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
                // AKS needs a system pool to create a cluster. It is read at creation only: the
                // workload pool below is a resource of its own, which the cluster's own list would
                // otherwise try to remove, and AKS refuses a VM size change on an existing pool.
                agentPoolProfiles: [
                    {
                        name: SYSTEM_POOL.name,
                        mode: containerservice.AgentPoolMode.System,
                        count: args.systemNodeCount,
                        vmSize: args.systemNodeVmSize,
                        nodeTaints: [SYSTEM_POOL.taint],
                        osType: containerservice.OSType.Linux,
                        type: containerservice.AgentPoolType.VirtualMachineScaleSets,
                    },
                ],
            },
            { ...childOpts, ignoreChanges: ["agentPoolProfiles"] },
        );

        // The workload pool. Its AKS name follows the VM size, so a new size is a replacement,
        // which Pulumi makes before it breaks: the new pool is created, the Kubernetes resources
        // that wait for the cluster stay, and the old pool is deleted at the end of the update
        // (AKS drains its nodes under the PodDisruptionBudgets). The node count is the
        // autoscaler's to change between the bounds.
        const workloadPool = new containerservice.AgentPool(
            `${name}-workload-pool`,
            {
                resourceGroupName: resourceGroup.name,
                resourceName: cluster.name,
                agentPoolName: workloadPoolName(args.nodeVmSize),
                mode: containerservice.AgentPoolMode.User,
                vmSize: args.nodeVmSize,
                count: args.nodeCount,
                enableAutoScaling: true,
                minCount: args.minNodeCount,
                maxCount: args.maxNodeCount,
                orchestratorVersion: args.kubernetesVersion,
                osType: containerservice.OSType.Linux,
                type: containerservice.AgentPoolType.VirtualMachineScaleSets,
                upgradeSettings: { maxSurge: WORKLOAD_POOL_MAX_SURGE },
            },
            { ...childOpts, ignoreChanges: ["count"], deleteBeforeReplace: false },
        );

        // The kubeconfig is read once the workload pool exists: what uses it (Istio, the app)
        // needs nodes that take pods, and the system pool's taint keeps them off it.
        const credentials = containerservice.listManagedClusterUserCredentialsOutput(
            { resourceGroupName: resourceGroup.name, resourceName: cluster.name },
            { parent: this, dependsOn: [workloadPool] },
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
        this.workloadPoolName = workloadPool.name;
        this.registerOutputs({
            workloadPoolName: this.workloadPoolName,
            resourceGroupName: this.resourceGroupName,
            clusterName: this.clusterName,
            kubeconfig: this.kubeconfig,
        });
    }
}
