import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { GatewayIdentity } from "../stages/authorization";
import { injectionLabels } from "../stages/istioCharts";
import { peerAuthenticationSpec } from "../stages/meshManifests";
import { StagePlan, voteCarry } from "../stages/model";
import { APP_NAMESPACE, CARRY_VOTES } from "../stages/names";
import { TrafficRouter } from "../stages/traffic";
import { callPolicies } from "./votingApp/callPolicies";
import { carryJob } from "./votingApp/carryJob";
import { AppScope } from "./votingApp/scope";
import { appServices, mysqlConfig, mysqlCredentials, votesVolumes } from "./votingApp/stores";
import { trafficObjects } from "./votingApp/traffic";
import { serviceAccount, stageWorkloads } from "./votingApp/workloads";

export interface VotingAppArgs {
    plan: StagePlan;
    appReplicas: number;
    /** Image per Deployment name (voting-app-1-0, voting-storage-2-0, ...). */
    images: Record<string, pulumi.Input<string>>;
    /** Deployments wait for these (e.g. the kubelet's AcrPull role assignment). */
    imagePullReady: pulumi.Resource[];
    /** The traffic API's router (traffic.api): the gateway binding, version backends and routes it asks for. */
    router: TrafficRouter;
    /** Gateway API's GatewayClass (traffic.gatewayClass). */
    gatewayClassName: string;
    /** Labels of the ingress gateway pods (derived from the gateway release). */
    gatewaySelector: pulumi.Input<Record<string, string>>;
    /** The ingress gateway's Service (made by the gateway release). */
    gatewayService: pulumi.Input<{ name: string; namespace: string }>;
    /** The ingress gateway's namespace (istio.gatewayNamespace): Gateway API's Gateway lives there. */
    gatewayNamespace: string;
    /** The ingress gateway's mTLS identity: the one caller from outside the namespace its policies let in. */
    gatewayIdentity: pulumi.Input<GatewayIdentity>;
    /** Deny by default, and allow each stage's own calls (traffic.authorization). */
    authorization: boolean;
    /** Istio must be ready (CRDs, istiod for injection) before the namespace's objects. */
    meshReady: pulumi.Input<pulumi.Resource>[];
    /** The traffic API's own CRDs, when the program installs them (Gateway API's). */
    trafficApiReady: pulumi.Resource[];
    /** Istio revision that injects the app's sidecars (istio.io/rev); none: istio-injection=enabled. */
    istioRevision?: string;
    /** Pulumi `protect` on the votes' volumes. */
    protectVotes: boolean;
    /** MySQL credentials from secret config; generated when absent. */
    mysqlPassword?: pulumi.Output<string>;
    mysqlRootPassword?: pulumi.Output<string>;
}

/**
 * The voting app at one stage of the rollout: namespace, workloads per version, Services,
 * MySQL Secret/PVC/init script, the vote carry, who may call whom, and the traffic API's objects
 * (its router's): the gateway binding, (from lockdown on) a backend per routed version
 * (DestinationRule fragments, or Services), the routes, and STRICT mTLS. Each concept is a
 * function of its own (./votingApp/); the order between them is composed here.
 */
export class VotingApp extends pulumi.ComponentResource {
    public readonly namespace: pulumi.Output<string>;
    public readonly deployments: pulumi.Output<string[]>;
    /** The per-version backends: DestinationRule fragments (istio) or Services (gateway-api). */
    public readonly versionBackends: pulumi.Output<string[]>;
    /** The routes: VirtualServices (istio) or HTTPRoutes (gateway-api), the ingress route first. */
    public readonly routes: pulumi.Output<string[]>;

    /**
     * @param name logical name; children are named after it
     * @param args the stage plan, images, the mesh it joins and the votes' settings
     * @param opts standard component options: give the Kubernetes provider, and the random
     *   provider when a password is to be generated, through `providers`
     */
    constructor(name: string, args: VotingAppArgs, opts?: pulumi.ComponentResourceOptions) {
        super("voting:app:VotingApp", name, {}, opts);
        const { plan } = args;

        const namespace = new k8s.core.v1.Namespace(
            "voting",
            { metadata: { name: APP_NAMESPACE, labels: injectionLabels(args.istioRevision) } },
            { parent: this, dependsOn: args.meshReady },
        );
        const ns = namespace.metadata.name;
        const scope: AppScope = {
            parent: this,
            meta: (objectName, labels) => ({ name: objectName, namespace: ns, labels }),
        };

        // The votes: credentials and volumes in every stage, MySQL's Secret where it runs, Services.
        const credentials = mysqlCredentials(scope, {
            password: args.mysqlPassword,
            rootPassword: args.mysqlRootPassword,
        });
        const volumes = votesVolumes(scope, args.protectVotes);
        const mysqlRuns = plan.workloads.some((wl) => wl.component === "voting-storage" && wl.version === "2.0");
        const mysql = mysqlRuns ? mysqlConfig(scope, credentials) : undefined;
        const storageService = appServices(scope);

        // Who may call whom: every allow before the workloads, the ingress route and the carry Job.
        const policies = callPolicies(scope, plan, {
            enabled: args.authorization,
            gatewayIdentity: args.gatewayIdentity,
            meshReady: args.meshReady,
        });

        // Votes carried from Redis to MySQL (stages/model.ts, voteCarry): the seed once both stores
        // are up and before any client of MySQL starts; the final carry after the routes, below.
        const carry = voteCarry(plan.stage);
        const carryAccount = carry ? serviceAccount(scope, CARRY_VOTES, { app: CARRY_VOTES }) : undefined;
        const carryVotes = (dependsOn: pulumi.Input<pulumi.Resource>[]) =>
            carryJob(scope, plan.stage.name, carry!, args.images, mysql!.secret, carryAccount!, {
                dependsOn: [...dependsOn, ...policies.of({ carryVotes: true })],
            });

        // Workloads, stores first; then deny by default, once every Deployment runs under its own
        // identity (turning it on for a live stack restarts each under its ServiceAccount first).
        const deployments = stageWorkloads(scope, plan, {
            appReplicas: args.appReplicas,
            images: args.images,
            imagePullReady: args.imagePullReady,
            storageService,
            volumes,
            mysql,
            policies,
            seedCarry: carry === "seed" ? carryVotes : undefined,
        });
        policies.denyByDefault([...deployments.values()]);

        // Traffic: backends, then the routes in the stage's change order.
        const { backends, routes } = trafficObjects(scope, plan, {
            router: args.router,
            namespace: ns,
            gatewayNamespace: args.gatewayNamespace,
            ingress: {
                podSelector: args.gatewaySelector,
                service: args.gatewayService,
                gatewayClassName: args.gatewayClassName,
            },
            ready: [...args.meshReady, ...args.trafficApiReady],
            deployments,
            ingressAllowed: policies.of({ ingressGateway: true }),
        });

        // Where Redis stops with this stage, what 1.x took since the last carry is carried once users
        // no longer reach 1.x (the routes changed) and before Redis goes (deletes run last).
        if (carry === "final") carryVotes([storageService, deployments.get("voting-storage@2.0")!, ...routes]);

        if (plan.stage.strictMtls) {
            new k8s.apiextensions.CustomResource(
                "default-peerauthentication",
                {
                    apiVersion: "security.istio.io/v1",
                    kind: "PeerAuthentication",
                    metadata: scope.meta("default"),
                    spec: peerAuthenticationSpec(),
                },
                { parent: this, dependsOn: [...args.meshReady, ...backends.values()] },
            );
        }

        this.namespace = ns;
        this.deployments = pulumi.all([...deployments.values()].map((d) => d.metadata.name));
        const names = (resources: pulumi.CustomResource[]) =>
            pulumi.all(resources.map((r) => (r as k8s.core.v1.Service).metadata.name));
        this.versionBackends = names([...backends.values()]);
        this.routes = names(routes);
        this.registerOutputs({
            namespace: this.namespace,
            deployments: this.deployments,
            versionBackends: this.versionBackends,
            routes: this.routes,
        });
    }
}
