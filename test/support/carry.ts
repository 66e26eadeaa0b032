/**
 * The vote carry's order through one `pulumi up` (issue 20), checked on every state the replay
 * (test/support/transitions.ts) passes through. Written from the rule, not from the program:
 *  - a carry Job is the Job whose container runs `node dist/carry.js`; in a state it is present
 *    once its step has finished, and a Job's create finishes only when the Job has completed;
 *  - seeding: where the target stage runs both stores, no MySQL client (a pod with MYSQL_HOST) that
 *    the update creates runs before a carry Job has completed;
 *  - every carry Job that the update creates runs with MySQL up, and with Redis up where Redis runs
 *    before or after the update; both reach their engine through the storage Service as it is in that state;
 *  - nothing is lost at the break: where Redis ran before the update and does not after it, no
 *    state has Redis gone without a carry Job of this update completed, and no user request
 *    reaches the 1.x chain (which writes Redis) once that carry has completed.
 */
import { KubernetesObject, ProgramRun, appObjects } from "../../mock/runProgram";
import { followStorageClients, followUserRequest } from "./mesh";
import { clusterOfObjects } from "./runs";
import { IntermediateState } from "./transitions";

const isCarryJob = (o: KubernetesObject) =>
    o.kind === "Job" &&
    JSON.stringify(o.spec?.template?.spec?.containers?.[0]?.command) === JSON.stringify(["node", "dist/carry.js"]);
const containerOf = (d: KubernetesObject) => d.spec.template.spec.containers[0];
const envOf = (d: KubernetesObject): Record<string, unknown> =>
    Object.fromEntries((containerOf(d).env ?? []).map((e: any) => [e.name, e.value ?? e.valueFrom]));
const isStore = (d: KubernetesObject, engine: "redis" | "mysql") =>
    d.kind === "Deployment" && new RegExp(`(^|/)${engine}:`).test(containerOf(d).image);
const isMysqlClient = (d: KubernetesObject) =>
    d.kind === "Deployment" && !isStore(d, "mysql") && !isStore(d, "redis") && "MYSQL_HOST" in envOf(d);
const key = (o: KubernetesObject) => `${o.kind}/${o.metadata.name}`;

/** The carry Jobs of a run (for the tests' own assertions too). */
export function carryJobs(objects: KubernetesObject[]): KubernetesObject[] {
    return objects.filter(isCarryJob);
}

/**
 * The Job's pod as two storage clients the routing model can follow (test/support/mesh.ts follows
 * Deployments): one speaking Redis with the Job's REDIS_* settings, one MySQL with its MYSQL_*.
 */
function asClients(job: KubernetesObject): KubernetesObject[] {
    const container = containerOf(job);
    const env = (container.env ?? []) as { name: string; value?: string }[];
    const only = (prefix: string) => env.filter((e) => e.name.startsWith(prefix) && e.value !== undefined);
    return (["REDIS_", "MYSQL_"] as const).map((prefix) => ({
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: {
            name: `${job.metadata.name}-${prefix.slice(0, -1).toLowerCase()}`,
            namespace: job.metadata.namespace,
        },
        spec: {
            replicas: 1,
            selector: { matchLabels: job.spec.template.metadata?.labels ?? {} },
            template: {
                metadata: { labels: job.spec.template.metadata?.labels ?? {} },
                spec: { containers: [{ ...container, env: only(prefix), ports: [] }] },
            },
        },
    }));
}

/** What is wrong with the carry's order in one state of the update `from` -> `to` (empty: nothing). */
export function carryProblems(from: ProgramRun, to: ProgramRun, state: IntermediateState): string[] {
    const before = appObjects(from);
    const after = appObjects(to);
    const had = new Set(before.map(key));
    const now = state.objects;
    const problems: string[] = [];

    const redisBefore = before.some((o) => isStore(o, "redis"));
    const redisAfter = after.some((o) => isStore(o, "redis"));
    const mysqlAfter = after.some((o) => isStore(o, "mysql"));
    const newCarries = carryJobs(now).filter((j) => !had.has(key(j)));

    // Seeding: no MySQL client this update starts runs before a carry completed.
    if (redisAfter && mysqlAfter) {
        const started = now.filter((o) => isMysqlClient(o) && !had.has(key(o)));
        if (started.length > 0 && newCarries.length === 0 && !carryJobs(now).some((j) => had.has(key(j))))
            problems.push(
                `${started.map(key).join(", ")} ${started.length > 1 ? "run" : "runs"} on MySQL before any carry from Redis completed`,
            );
    }

    // Each new carry ran with its stores up and reachable (checked before any delete: a finished
    // Job does not care that Redis goes afterwards).
    if (!state.deleting) {
        for (const job of newCarries) {
            if (!now.some((o) => isStore(o, "mysql"))) problems.push(`${key(job)} completed without MySQL running`);
            if (redisBefore || redisAfter) {
                if (!now.some((o) => isStore(o, "redis"))) problems.push(`${key(job)} completed without Redis running`);
            }
            const connections = followStorageClients(clusterOfObjects([...now, ...asClients(job)])).filter((c) =>
                c.client.startsWith(job.metadata.name),
            );
            for (const engine of redisBefore || redisAfter ? ["redis", "mysql"] : ["mysql"]) {
                const mine = connections.filter((c) => c.engine === engine);
                if (mine.length === 0 || mine.some((c) => c.error))
                    problems.push(
                        `${key(job)} cannot reach ${engine}: ${mine.map((c) => c.error).join("; ") || "no connection"}`,
                    );
            }
        }
    }

    // The break: Redis goes only after the final carry, and 1.x takes no vote after it.
    if (redisBefore && !redisAfter) {
        const redisGone = !now.some((o) => isStore(o, "redis"));
        if (redisGone && newCarries.length === 0)
            problems.push("Redis is deleted before a carry of this update completed: 1.x's latest votes are lost");
        if (newCarries.length > 0) {
            for (const cookie of [undefined, "featureflag=on", "voting-canary=1.0-w30"]) {
                const reached = followUserRequest(clusterOfObjects(now), cookie).filter((o) =>
                    o.path.app?.startsWith("1."),
                );
                if (reached.length > 0)
                    problems.push(
                        `users (cookie ${cookie}) still reach app ${reached[0]!.path.app} after ${newCarries.map(key).join(", ")} completed: their votes are never carried`,
                    );
            }
        }
    }
    return problems;
}

/** One engine event of a real `pulumi up` (e2e/ephemeralStack.ts records them in order, e2e/engineSteps.ts reads them). */
export interface AppliedStep {
    /** `start`: the engine began the step (resourcePreEvent); `done`: it finished (resOutputsEvent). */
    phase: "start" | "done";
    op: string;
    /** Kind/name, as mock/changes.ts labels objects. */
    label: string;
}

/**
 * The carry's order in the engine's own event log of one `pulumi up` (the end-to-end walk), by the
 * same rules as `carryProblems`: a carry Job created by the up finishes (the provider waits for a
 * Job to complete) before any MySQL client the up creates starts (where the stage runs Redis too),
 * starts after the stores the up creates are done, and, where the up deletes Redis, finishes before
 * that delete starts and starts after every route update finished.
 */
export function carryOrderProblems(
    events: AppliedStep[],
    names: { redis: string; mysql: string; mysqlClients: string[]; stageRunsRedis: boolean },
): string[] {
    const index = (phase: AppliedStep["phase"], op: string, label: string) =>
        events.findIndex((e) => e.phase === phase && e.op === op && e.label === label);
    const carries = [
        ...new Set(
            events.filter((e) => e.op === "create" && e.label.startsWith("Job/carry-votes-")).map((e) => e.label),
        ),
    ];
    const problems: string[] = [];
    const redisDeleted = index("start", "delete", names.redis);
    const clientsStarted = names.mysqlClients
        .map((c) => [c, index("start", "create", c)] as const)
        .filter(([, i]) => i >= 0);
    if (redisDeleted >= 0 && carries.length === 0) problems.push(`${names.redis} deleted without a carry in the up`);
    if (names.stageRunsRedis && clientsStarted.length > 0 && carries.length === 0)
        problems.push(`${clientsStarted.map(([c]) => c).join(", ")} created without a carry in the up`);
    for (const job of carries) {
        const started = index("start", "create", job);
        const done = index("done", "create", job);
        if (done < 0) {
            problems.push(`${job}: the engine never finished its create`);
            continue;
        }
        for (const store of [names.redis, names.mysql]) {
            const storeDone = index("done", "create", store);
            if (index("start", "create", store) >= 0 && (storeDone < 0 || storeDone > started))
                problems.push(`${job} started before ${store} was ready`);
        }
        if (names.stageRunsRedis)
            for (const [client, at] of clientsStarted)
                if (at < done) problems.push(`${client} started before ${job} completed`);
        if (redisDeleted >= 0) {
            if (redisDeleted < done) problems.push(`${names.redis} deleted before ${job} completed`);
            const routeUpdates = events.filter(
                (e) => e.phase === "done" && e.op === "update" && /^(VirtualService|HTTPRoute)\//.test(e.label),
            );
            for (const route of routeUpdates)
                if (events.indexOf(route) > started) problems.push(`${job} started before ${route.label} was updated`);
        }
    }
    return problems;
}
