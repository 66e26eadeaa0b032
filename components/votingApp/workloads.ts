/**
 * The stage's Deployments, stores first, each under a ServiceAccount of its own (its mTLS
 * identity), with a PodDisruptionBudget where it has replicas to spare; and, where the stage
 * seeds MySQL from Redis, the carry Job between the stores and MySQL's clients.
 *
 * A client waits for the store it uses (its Service and its ready pods: a client's readiness
 * checks its store, and a Deployment's create finishes only when its pods are ready), for MySQL's
 * seed where it is a MySQL client, and for the allows of its own calls and of the calls to it (a
 * Service's round robin sends calls to a new version's pods at once).
 */
import * as k8s from "@pulumi/kubernetes";
import * as kx from "@pulumi/kubernetesx";
import * as pulumi from "@pulumi/pulumi";
import { serviceAccountOf } from "../../stages/authorization";
import { STORAGE_VERSIONS, StagePlan, storageFor, WorkloadRef } from "../../stages/model";
import { workloadName } from "../../stages/names";
import { CallPolicies } from "./callPolicies";
import { podSpec } from "./podSpecs";
import { AppScope, workloadKey } from "./scope";
import { MysqlConfig, VotesVolumes } from "./stores";

/**
 * The ServiceAccount a workload's pods run under: their mTLS identity in the mesh, which the
 * AuthorizationPolicies name. No Kubernetes API token is mounted: nothing of the app calls the API.
 */
export function serviceAccount(
    { parent, meta }: AppScope,
    accountName: string,
    labels: Record<string, string>,
): k8s.core.v1.ServiceAccount {
    return new k8s.core.v1.ServiceAccount(
        accountName,
        { metadata: meta(accountName, labels), automountServiceAccountToken: false },
        { parent },
    );
}

export function stageWorkloads(
    scope: AppScope,
    plan: StagePlan,
    args: {
        appReplicas: number;
        images: Record<string, pulumi.Input<string>>;
        imagePullReady: pulumi.Resource[];
        storageService: kx.Service;
        volumes: VotesVolumes;
        mysql?: MysqlConfig;
        policies: CallPolicies;
        /** The seed carry (where both stores run), registered once both are up: before MySQL's first client. */
        seedCarry?: (storesUp: pulumi.Resource[]) => k8s.batch.v1.Job;
    },
): Map<string, kx.Deployment> {
    const { parent, meta } = scope;
    const deployments = new Map<string, kx.Deployment>();
    const storesFirst = [...plan.workloads].sort(
        (a, b) => Number(b.component === "voting-storage") - Number(a.component === "voting-storage"),
    );
    let seedJob: k8s.batch.v1.Job | undefined;
    for (const ref of storesFirst) {
        if (args.seedCarry && ref.component !== "voting-storage" && !seedJob) {
            seedJob = args.seedCarry([
                args.storageService,
                ...STORAGE_VERSIONS.map((version) => deployments.get(`voting-storage@${version}`)!),
            ]);
        }
        const labels = { app: ref.component, version: ref.version };
        const account = serviceAccount(scope, serviceAccountOf(ref), labels);
        const spec = {
            ...podSpec(ref, args.images, {
                ...args.volumes,
                mysqlSecret: args.mysql?.secret,
                mysqlInit: args.mysql?.init,
            }),
            serviceAccountName: account.metadata.name,
        };
        const deploymentName = workloadName(ref);
        const itsStore = storeOf(ref, deployments, args.storageService, seedJob);
        const replicas = ref.component === "voting-app" ? args.appReplicas : 1;
        const deployment = new kx.Deployment(
            deploymentName,
            {
                metadata: meta(deploymentName, labels),
                spec: {
                    replicas,
                    selector: { matchLabels: labels },
                    // Storage holds a ReadWriteOnce volume: the old pod must go before the new one mounts it.
                    strategy: ref.component === "voting-storage" ? { type: "Recreate" } : undefined,
                    template: { metadata: { labels }, spec },
                },
            },
            {
                parent,
                dependsOn: [
                    ...args.imagePullReady,
                    ...itsStore,
                    ...args.policies.of({ workload: ref }),
                    ...args.policies.into(deploymentName),
                ],
            },
        );
        deployments.set(workloadKey(ref), deployment);
        // A node drain (an AKS upgrade, a node pool replaced) takes one replica at a time.
        if (replicas > 1) {
            new k8s.policy.v1.PodDisruptionBudget(
                deploymentName,
                {
                    metadata: meta(deploymentName, labels),
                    spec: { maxUnavailable: 1, selector: { matchLabels: labels } },
                },
                { parent, dependsOn: [deployment] },
            );
        }
    }
    return deployments;
}

/** What a client waits for: its store's Service and Deployment, and MySQL's seed for MySQL's clients. */
function storeOf(
    ref: WorkloadRef,
    deployments: Map<string, kx.Deployment>,
    storageService: kx.Service,
    seedJob: k8s.batch.v1.Job | undefined,
): pulumi.Resource[] {
    if (ref.component === "voting-storage") return [];
    const storeVersion = storageFor(ref.component, ref.version);
    return [
        storageService,
        deployments.get(`voting-storage@${storeVersion}`)!,
        // MySQL's clients start once it holds every vote Redis had.
        ...(seedJob && storeVersion === "2.0" ? [seedJob] : []),
    ];
}
