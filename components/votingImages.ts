import * as dockerBuild from "@pulumi/docker-build";
import * as pulumi from "@pulumi/pulumi";
import { BUILT_WORKLOADS, buildArgsOf, workloadName } from "../stages/names";

/** The build context, relative to the Pulumi project (so previews are the same on every machine). */
const APP_CONTEXT = "app";

export interface VotingImagesArgs {
    /** Registry host to push to, e.g. myacr.azurecr.io or localhost:5001. */
    registry: pulumi.Input<string>;
    /** Tag per Deployment name (voting-app-1-0 -> "1.0"). */
    tags: Record<string, string>;
    /**
     * Push credentials (the password a secret); none for a local registry. Each image waits for
     * the resources behind them: on AKS, the deployer's AcrPush assignment on the registry.
     */
    credentials?: { username: pulumi.Input<string>; password: pulumi.Input<string> };
}

/**
 * Builds app/Dockerfile once per app/analytics version and pushes it. `refs` are digest-pinned
 * references (<registry>/<name>:<tag>@sha256:…), so a rebuilt image rolls its Deployment.
 */
export class VotingImages extends pulumi.ComponentResource {
    public readonly refs: Record<string, pulumi.Output<string>> = {};

    /**
     * @param name logical name; children are named after it
     * @param args where to push, the tags, and push credentials
     * @param opts standard component options: give the docker-build provider through `providers`
     */
    constructor(name: string, args: VotingImagesArgs, opts?: pulumi.ComponentResourceOptions) {
        super("voting:images:VotingImages", name, {}, opts);
        for (const ref of BUILT_WORKLOADS) {
            const deployment = workloadName(ref);
            const image = new dockerBuild.Image(
                deployment,
                {
                    context: { location: APP_CONTEXT },
                    dockerfile: { location: `${APP_CONTEXT}/Dockerfile` },
                    buildArgs: buildArgsOf(ref),
                    platforms: [dockerBuild.Platform.Linux_amd64],
                    tags: [pulumi.interpolate`${args.registry}/${ref.component}:${args.tags[deployment]}`],
                    push: true,
                    // A preview (on a pull request above all) builds and pushes nothing; the build
                    // runs in `pulumi up`. docker-build's default is to build during previews.
                    buildOnPreview: false,
                    registries: args.credentials
                        ? [
                              {
                                  address: args.registry,
                                  username: args.credentials.username,
                                  password: args.credentials.password,
                              },
                          ]
                        : [],
                },
                { parent: this },
            );
            this.refs[deployment] = image.ref;
        }
        this.registerOutputs({ refs: this.refs });
    }
}
