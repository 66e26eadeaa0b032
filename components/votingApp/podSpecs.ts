/** The pod of each Deployment: Redis, MySQL, or an app/analytics version (the app contract's settings). */
import * as kx from "@pulumi/kubernetesx";
import * as pulumi from "@pulumi/pulumi";
import { CONTAINER_REQUESTS } from "../../stages/capacity";
import { STORAGE_ENGINES, storageFor, WorkloadRef } from "../../stages/model";
import { APP_PORT, workloadName } from "../../stages/names";

/** The two candidates of the vote (the app's VOTE1VALUE / VOTE2VALUE): the app, analytics and the carry count them. */
export const CANDIDATES = { VOTE1VALUE: "Cats", VOTE2VALUE: "Dogs" };

/** A Deployment's pod: its container, image, ports, probes, store settings and volumes. */
export function podSpec(
    ref: WorkloadRef,
    images: Record<string, pulumi.Input<string>>,
    storage: {
        redisData: kx.PersistentVolumeClaim;
        mysqlSecret?: kx.Secret;
        mysqlData: kx.PersistentVolumeClaim;
        mysqlInit?: kx.ConfigMap;
    },
): kx.types.PodSpec {
    const image = images[workloadName(ref)];
    if (ref.component === "voting-storage") {
        if (ref.version === "1.0") {
            return {
                containers: [
                    {
                        name: "redis",
                        image,
                        args: ["--appendonly", "yes", "--dir", "/data"],
                        ports: { [STORAGE_ENGINES["1.0"].containerPortName]: STORAGE_ENGINES["1.0"].port },
                        resources: { requests: CONTAINER_REQUESTS.redis, limits: { memory: "256Mi" } },
                        // Replaying a large append-only file takes a while: liveness starts after it.
                        startupProbe: {
                            exec: { command: ["redis-cli", "ping"] },
                            periodSeconds: 5,
                            failureThreshold: 60,
                        },
                        readinessProbe: { exec: { command: ["redis-cli", "ping"] }, periodSeconds: 5 },
                        livenessProbe: {
                            exec: { command: ["redis-cli", "ping"] },
                            periodSeconds: 10,
                            failureThreshold: 6,
                        },
                        volumeMounts: [storage.redisData.mount("/data")],
                    },
                ],
            };
        }
        const secret = storage.mysqlSecret!;
        return {
            containers: [
                {
                    name: "mysql",
                    image,
                    ports: { [STORAGE_ENGINES["2.0"].containerPortName]: STORAGE_ENGINES["2.0"].port },
                    env: {
                        MYSQL_DATABASE: secret.asEnvValue("MYSQL_DATABASE"),
                        MYSQL_USER: secret.asEnvValue("MYSQL_USER"),
                        MYSQL_PASSWORD: secret.asEnvValue("MYSQL_PASSWORD"),
                        MYSQL_ROOT_PASSWORD: secret.asEnvValue("MYSQL_ROOT_PASSWORD"),
                    },
                    resources: { requests: CONTAINER_REQUESTS.mysql, limits: { memory: "1Gi" } },
                    // `mysqladmin ping` exits 0 whenever the server answers, even "access denied".
                    // The first start initialises the data directory (its temporary server
                    // listens on no TCP port) and runs init.sql: on a slow disk that takes minutes,
                    // and a liveness kill half-way leaves a data directory MySQL cannot open. The
                    // startup probe gives it up to 10 minutes; liveness starts only after it.
                    startupProbe: {
                        exec: { command: ["mysqladmin", "ping", "-h", "127.0.0.1"] },
                        periodSeconds: 10,
                        failureThreshold: 60,
                    },
                    readinessProbe: {
                        exec: { command: ["mysqladmin", "ping", "-h", "127.0.0.1"] },
                        periodSeconds: 5,
                    },
                    livenessProbe: {
                        exec: { command: ["mysqladmin", "ping", "-h", "127.0.0.1"] },
                        periodSeconds: 10,
                        failureThreshold: 6,
                    },
                    volumeMounts: [
                        // A sub-directory: a fresh disk's lost+found would stop MySQL 8 initialising.
                        storage.mysqlData.mount("/var/lib/mysql", "mysql"),
                        storage.mysqlInit!.mount("/docker-entrypoint-initdb.d"),
                    ],
                },
            ],
        };
    }

    const store = STORAGE_ENGINES[storageFor(ref.component, ref.version)];
    const storageEnv: kx.types.EnvMap =
        store.engine === "redis"
            ? { REDIS_HOST: "voting-storage", REDIS_PORT: String(store.port) }
            : {
                  MYSQL_HOST: "voting-storage",
                  MYSQL_PORT: String(store.port),
                  MYSQL_DATABASE: storage.mysqlSecret!.asEnvValue("MYSQL_DATABASE"),
                  MYSQL_USER: storage.mysqlSecret!.asEnvValue("MYSQL_USER"),
                  MYSQL_PASSWORD: storage.mysqlSecret!.asEnvValue("MYSQL_PASSWORD"),
              };
    const appEnv: kx.types.EnvMap =
        ref.component === "voting-app"
            ? {
                  ANALYTICS_HOST: "voting-analytics",
                  ANALYTICS_PORT: String(APP_PORT),
                  TITLE: "Azure Voting App",
                  ...CANDIDATES,
                  SHOWDETAILS: "true",
                  FEATUREFLAG: "true",
              }
            : CANDIDATES;
    const requests = CONTAINER_REQUESTS[ref.component];
    return {
        securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
        containers: [
            {
                name: ref.component,
                image,
                ports: { http: APP_PORT },
                env: { PORT: String(APP_PORT), ...appEnv, ...storageEnv },
                resources: { requests, limits: { memory: "256Mi" } },
                readinessProbe: { httpGet: { path: "/readyz", port: APP_PORT }, periodSeconds: 5 },
                livenessProbe: {
                    httpGet: { path: "/healthz", port: APP_PORT },
                    periodSeconds: 10,
                    failureThreshold: 3,
                },
                securityContext: {
                    allowPrivilegeEscalation: false,
                    readOnlyRootFilesystem: true,
                    capabilities: { drop: ["ALL"] },
                },
                volumeMounts: [{ volume: { name: "tmp", emptyDir: {} }, destPath: "/tmp" }],
            },
        ],
    };
}
