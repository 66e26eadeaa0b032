/** The vote carry's Job (stages/model.ts, voteCarry), as the stage that carries registers it. */
import * as k8s from "@pulumi/kubernetes";
import * as kx from "@pulumi/kubernetesx";
import * as pulumi from "@pulumi/pulumi";
import { CONTAINER_REQUESTS } from "../../stages/capacity";
import { STORAGE_ENGINES, VoteCarry } from "../../stages/model";
import { CARRY_VOTES, carryJobName, workloadName } from "../../stages/names";
import { CANDIDATES } from "./podSpecs";
import { AppScope } from "./scope";

/**
 * The Job that carries the votes from Redis to MySQL: the app 2.0 image's carry (app/src/carry.ts),
 * exact however often it runs. Named after the stage, so entering the stage again runs it again;
 * a changed spec (a new image) replaces it, the old Job deleted first (Jobs are immutable and the
 * name is fixed), which runs the carry again, harmlessly (at finalize, with Redis gone, it finds
 * the final carry recorded and ends with nothing to carry). `pulumi up` waits for the Job to
 * complete; one that failed is run again by the next `pulumi up` (replaceUnready).
 */
export function carryJob(
    { parent, meta }: AppScope,
    stageName: string,
    mode: VoteCarry,
    images: Record<string, pulumi.Input<string>>,
    mysqlSecret: kx.Secret,
    account: k8s.core.v1.ServiceAccount,
    opts: pulumi.CustomResourceOptions,
): k8s.batch.v1.Job {
    const labels = { app: CARRY_VOTES };
    const fromSecret = (key: string) => ({ valueFrom: { secretKeyRef: { name: mysqlSecret.metadata.name, key } } });
    return new k8s.batch.v1.Job(
        carryJobName(stageName),
        {
            metadata: {
                ...meta(carryJobName(stageName), labels),
                // A Job that failed (its pods gave up) is replaced, so run again, by the next
                // `pulumi up`, instead of being waited on again.
                annotations: { "pulumi.com/replaceUnready": "true" },
            },
            spec: {
                // Four pods at most, each retrying its stores for CARRY_TIMEOUT_MS (60 s), with
                // Kubernetes' 10 s, 20 s, 40 s between them: about 5 minutes, well inside the
                // 10 minutes Pulumi waits for a Job to complete.
                backoffLimit: 3,
                template: {
                    metadata: { labels },
                    spec: {
                        serviceAccountName: account.metadata.name,
                        restartPolicy: "Never",
                        securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
                        containers: [
                            {
                                name: "carry-votes",
                                image: images[workloadName({ component: "voting-app", version: "2.0" })],
                                command: ["node", "dist/carry.js"],
                                env: [
                                    // seed or final: a final carry lets a later run find Redis gone (app/src/carry.ts)
                                    { name: "CARRY_MODE", value: mode },
                                    { name: "REDIS_HOST", value: "voting-storage" },
                                    { name: "REDIS_PORT", value: String(STORAGE_ENGINES["1.0"].port) },
                                    { name: "MYSQL_HOST", value: "voting-storage" },
                                    { name: "MYSQL_PORT", value: String(STORAGE_ENGINES["2.0"].port) },
                                    { name: "MYSQL_DATABASE", ...fromSecret("MYSQL_DATABASE") },
                                    { name: "MYSQL_USER", ...fromSecret("MYSQL_USER") },
                                    { name: "MYSQL_PASSWORD", ...fromSecret("MYSQL_PASSWORD") },
                                    ...Object.entries(CANDIDATES).map(([name, value]) => ({ name, value })),
                                ],
                                resources: {
                                    requests: CONTAINER_REQUESTS["carry-votes"],
                                    limits: { memory: "256Mi" },
                                },
                                securityContext: {
                                    allowPrivilegeEscalation: false,
                                    readOnlyRootFilesystem: true,
                                    capabilities: { drop: ["ALL"] },
                                },
                            },
                        ],
                    },
                },
            },
        },
        { ...opts, parent, deleteBeforeReplace: true },
    );
}
