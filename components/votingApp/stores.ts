/**
 * What the votes live in and how the app reaches it: MySQL's credentials, the votes' two volumes,
 * MySQL's Secret and init script (where MySQL runs), and the three Services.
 */
import * as fs from "fs";
import * as path from "path";
import * as kx from "@pulumi/kubernetesx";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { Component, STORAGE_ENGINES, STORAGE_VERSIONS } from "../../stages/model";
import { APP_PORT, MYSQL_DATABASE, MYSQL_USER } from "../../stages/names";
import { AppScope } from "./scope";

/** The schema and first rows of the votes database, run by MySQL at its first start. */
const MYSQL_INIT_SQL = path.join(__dirname, "..", "..", "app", "sql", "init.sql");

export interface MysqlCredentials {
    password: pulumi.Output<string>;
    rootPassword: pulumi.Output<string>;
}

/**
 * MySQL's passwords: from secret config, else generated. Registered in every stage, so a MySQL
 * volume kept across a rollback and a later canary still opens with the same password.
 */
export function mysqlCredentials(
    { parent }: AppScope,
    given: { password?: pulumi.Output<string>; rootPassword?: pulumi.Output<string> },
): MysqlCredentials {
    const password = (key: string, value?: pulumi.Output<string>) =>
        value ?? new random.RandomPassword(key, { length: 24, special: false }, { parent }).result;
    return {
        password: password("mysql-password", given.password),
        rootPassword: password("mysql-root-password", given.rootPassword),
    };
}

export interface VotesVolumes {
    redisData: kx.PersistentVolumeClaim;
    mysqlData: kx.PersistentVolumeClaim;
}

/**
 * The votes' volumes exist in every stage, whether or not a stage runs their store: no stage
 * change, forward or back, deletes or re-creates them (a re-create of a claim that is still in the
 * cluster fails with AlreadyExists from Kubernetes provider 4.29 on), so Redis's votes are there
 * again when a rollback from finalize brings Redis back, and MySQL's when canary comes back after
 * a rollback. `protect` keeps `pulumi destroy` from deleting them (and the namespace, which would
 * take them along) unless the stack says so.
 */
export function votesVolumes({ parent, meta }: AppScope, protect: boolean): VotesVolumes {
    const claim = (claimName: string, version: string, storage: string) =>
        new kx.PersistentVolumeClaim(
            claimName,
            {
                metadata: meta(claimName, { app: "voting-storage", version }),
                spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage } } },
            },
            { parent, protect },
        );
    return {
        redisData: claim("voting-storage-redis-data", "1.0", "1Gi"),
        mysqlData: claim("voting-storage-mysql-data", "2.0", "5Gi"),
    };
}

export interface MysqlConfig {
    secret: kx.Secret;
    init: kx.ConfigMap;
}

/** Where MySQL runs: its Secret (the credentials, never in plain text) and its init script. */
export function mysqlConfig({ parent, meta }: AppScope, credentials: MysqlCredentials): MysqlConfig {
    const secret = new kx.Secret(
        "voting-storage-secret",
        {
            metadata: meta("voting-storage-secret", { app: "voting-storage" }),
            stringData: {
                MYSQL_USER: MYSQL_USER,
                MYSQL_DATABASE: MYSQL_DATABASE,
                MYSQL_PASSWORD: credentials.password,
                MYSQL_ROOT_PASSWORD: credentials.rootPassword,
            },
        },
        { parent },
    );
    const init = new kx.ConfigMap(
        "voting-storage-mysql-init",
        {
            metadata: meta("voting-storage-mysql-init", { app: "voting-storage", version: "2.0" }),
            data: { "init.sql": fs.readFileSync(MYSQL_INIT_SQL, "utf8") },
        },
        { parent },
    );
    return { secret, init };
}

/**
 * Services: one per component, selecting on `app` only, every port's protocol declared. Returns
 * the storage Service, which the stores' clients and the vote carry wait for.
 *
 * The storage Service exposes every engine's port in every stage (a port whose engine does not
 * run has no endpoints), so it never changes: no stage change can take a port away from a client
 * still running, nor start a client before its port exists. Named target ports: Kubernetes gives
 * a port only the endpoints of pods that declare a container port of that name, so whatever
 * reaches the plain Service (a client no TCP route matches, a readiness check) on 6379 reaches
 * Redis and on 3306 MySQL, never the other engine that the `app` selector also selects.
 */
export function appServices({ parent, meta }: AppScope): kx.Service {
    const httpService = (component: Component) =>
        new kx.Service(
            component,
            {
                metadata: meta(component, { app: component }),
                spec: {
                    selector: { app: component },
                    ports: [
                        { name: "http", port: APP_PORT, targetPort: APP_PORT, protocol: "TCP", appProtocol: "http" },
                    ],
                },
            },
            { parent },
        );
    httpService("voting-app");
    httpService("voting-analytics");
    return new kx.Service(
        "voting-storage",
        {
            metadata: meta("voting-storage", { app: "voting-storage" }),
            spec: {
                selector: { app: "voting-storage" },
                ports: STORAGE_VERSIONS.map((version) => {
                    const { port, portName, containerPortName } = STORAGE_ENGINES[version];
                    return { name: portName, port, targetPort: containerPortName, protocol: "TCP", appProtocol: "tcp" };
                }),
            },
        },
        { parent },
    );
}
