import * as authorization from "@pulumi/azure-native/authorization";
import * as containerregistry from "@pulumi/azure-native/containerregistry";
import * as pulumi from "@pulumi/pulumi";
import { ACR_TOKEN_AUDIENCE, ACR_TOKEN_USERNAME, exchangeForAcrRefreshToken } from "../stages/acrToken";

/** Azure's built-in AcrPull role (pull). */
const ACR_PULL_ROLE_ID = "7f951dda-4ed3-4680-a7ca-43fe172d538d";
/** Azure's built-in AcrPush role (push and pull). */
const ACR_PUSH_ROLE_ID = "8311e382-0749-4cb8-b61a-304f252e45ec";

export interface ContainerRegistryArgs {
    resourceGroupName: pulumi.Input<string>;
    location: pulumi.Input<string>;
    /** Object ID of the AKS kubelet identity, which gets AcrPull on the registry. */
    kubeletObjectId: pulumi.Input<string>;
}

/**
 * An Azure Container Registry for the app's images, with no admin user (Azure Policy's "Container
 * registries should have local admin account disabled"): everyone authenticates with Entra ID.
 * The cluster's kubelet identity pulls with AcrPull. Whoever runs `pulumi up` pushes with AcrPush,
 * which this component assigns to them, and an ACR refresh token exchanged for their own Entra ID
 * token during `pulumi up` (never during a preview); the images wait for that assignment.
 */
export class ContainerRegistry extends pulumi.ComponentResource {
    public readonly loginServer: pulumi.Output<string>;
    /** The null GUID: the password is an ACR refresh token. */
    public readonly pushUsername: pulumi.Output<string>;
    /**
     * An ACR refresh token of the deploying identity (a secret; unknown during a preview). It
     * depends on `pushAccess`, so whatever takes it as an input waits for the AcrPush assignment.
     */
    public readonly pushPassword: pulumi.Output<string>;
    /** Deployments that pull from the registry wait for this. */
    public readonly pullAccess: authorization.RoleAssignment;
    /** AcrPush for the identity running `pulumi up`; pushes wait for this. */
    public readonly pushAccess: authorization.RoleAssignment;

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
                adminUserEnabled: false,
            },
            childOpts,
        );
        const client = authorization.getClientConfigOutput({ parent: this });
        const role = (id: string) =>
            pulumi.interpolate`/subscriptions/${client.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${id}`;
        this.pullAccess = new authorization.RoleAssignment(
            `${name}-kubelet-acrpull`,
            {
                principalId: args.kubeletObjectId,
                principalType: authorization.PrincipalType.ServicePrincipal,
                roleDefinitionId: role(ACR_PULL_ROLE_ID),
                scope: registry.id,
            },
            childOpts,
        );
        // The deployer is a user after `az login` and a service principal in the workflows, and
        // Azure refuses a principalType that does not match (UnmatchedPrincipalType), so none is
        // sent and Azure looks the principal up itself. The field only matters for a principal
        // created moments before (replication delay), which the one running `pulumi up` is not.
        // The SDK would send "User" for a missing value: an Output of nothing is sent as nothing.
        this.pushAccess = new authorization.RoleAssignment(
            `${name}-deployer-acrpush`,
            {
                principalId: client.objectId,
                principalType: pulumi.output(undefined),
                roleDefinitionId: role(ACR_PUSH_ROLE_ID),
                scope: registry.id,
            },
            childOpts,
        );
        this.loginServer = registry.loginServer;
        this.pushUsername = pulumi.output(ACR_TOKEN_USERNAME);
        // The exchange runs once the AcrPush assignment exists, and only in `pulumi up`: a preview
        // builds nothing (buildOnPreview: false), so it asks for no token at all.
        this.pushPassword = pulumi.secret(
            pulumi
                .all([this.pushAccess.id, registry.loginServer, client.tenantId])
                .apply(async ([, loginServer, tenant]): Promise<pulumi.Output<string> | string> => {
                    if (pulumi.runtime.isDryRun()) return pulumi.output(pulumi.unknown) as pulumi.Output<string>;
                    const { token } = await authorization.getClientToken(
                        { endpoint: ACR_TOKEN_AUDIENCE },
                        { parent: this },
                    );
                    return exchangeForAcrRefreshToken({
                        loginServer,
                        tenant,
                        accessToken: token,
                        fetch: (url, init) => globalThis.fetch(url, init),
                    });
                }),
        );
        this.registerOutputs({ loginServer: this.loginServer });
    }
}
