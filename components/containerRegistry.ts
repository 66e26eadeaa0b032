import * as authorization from "@pulumi/azure-native/authorization";
import * as containerregistry from "@pulumi/azure-native/containerregistry";
import * as pulumi from "@pulumi/pulumi";

/** Azure's built-in AcrPull role. */
const ACR_PULL_ROLE_ID = "7f951dda-4ed3-4680-a7ca-43fe172d538d";

export interface ContainerRegistryArgs {
    resourceGroupName: pulumi.Input<string>;
    location: pulumi.Input<string>;
    /** Object ID of the AKS kubelet identity, which gets AcrPull on the registry. */
    kubeletObjectId: pulumi.Input<string>;
}

/**
 * An Azure Container Registry for the app's images. The cluster's kubelet identity pulls with
 * AcrPull; pushes use the registry's admin credentials (secrets), which only `pulumi up` needs.
 */
export class ContainerRegistry extends pulumi.ComponentResource {
    public readonly loginServer: pulumi.Output<string>;
    public readonly pushUsername: pulumi.Output<string>;
    public readonly pushPassword: pulumi.Output<string>;
    /** Deployments that pull from the registry wait for this. */
    public readonly pullAccess: authorization.RoleAssignment;

    /**
     * @param name logical name; children are named after it
     * @param args resource group, location, and the kubelet identity that gets AcrPull
     * @param opts standard component options: give the Azure provider through `providers`
     */
    constructor(name: string, args: ContainerRegistryArgs, opts?: pulumi.ComponentResourceOptions) {
        super("voting:azure:ContainerRegistry", name, {}, opts);
        const childOpts = { parent: this };
        const registry = new containerregistry.Registry(
            `${name}acr`,
            {
                resourceGroupName: args.resourceGroupName,
                location: args.location,
                sku: { name: containerregistry.SkuName.Basic },
                adminUserEnabled: true,
            },
            childOpts,
        );
        const credentials = containerregistry.listRegistryCredentialsOutput(
            { resourceGroupName: args.resourceGroupName, registryName: registry.name },
            { parent: this },
        );
        const client = authorization.getClientConfigOutput({ parent: this });
        this.pullAccess = new authorization.RoleAssignment(
            `${name}-kubelet-acrpull`,
            {
                principalId: args.kubeletObjectId,
                principalType: authorization.PrincipalType.ServicePrincipal,
                roleDefinitionId: pulumi.interpolate`/subscriptions/${client.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${ACR_PULL_ROLE_ID}`,
                scope: registry.id,
            },
            childOpts,
        );
        this.loginServer = registry.loginServer;
        this.pushUsername = pulumi.secret(credentials.apply((c) => c.username ?? ""));
        this.pushPassword = pulumi.secret(credentials.apply((c) => c.passwords?.[0]?.value ?? ""));
        this.registerOutputs({ loginServer: this.loginServer });
    }
}
