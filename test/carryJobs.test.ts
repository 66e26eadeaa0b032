/**
 * The vote carry's Jobs as the program registers them (issue 20): which stages register which
 * Job, what it runs (the app 2.0 image the stage deploys, `node dist/carry.js`, MySQL's credentials
 * from the Secret and never in plain text) and what it waits for and what waits for it. The order
 * through every state of a `pulumi up` is held by the make-before-break replay in
 * test/transitions.test.ts (test/support/carry.ts); the carry's code against real stores by
 * app/test/carry*.test.ts.
 */
import { strict as assert } from "assert";
import { closure } from "../mock/changes";
import { appObjects, KubernetesObject, ProgramRun, RegisteredResource, runProgram } from "../mock/runProgram";
import { STAGE_NAMES } from "../stages/model";
import { TRAFFIC_APIS } from "../stages/traffic/router";
import { AppliedStep, carryJobs, carryOrderProblems } from "./support/carry";
import { find, runStage, runStageIn } from "./support/runs";

/** Written out from the issue: the seed where both stores run, the final carry where Redis stops. */
const EXPECTED_JOBS: Record<string, string[]> = {
    deploy: [],
    update: [],
    lockdown: [],
    canary: ["carry-votes-canary"],
    finalize: ["carry-votes-finalize"],
};

const resourceOf = (run: ProgramRun, kind: string, name: string): RegisteredResource => {
    const found = run.resources.find((r) => !r.read && r.inputs?.kind === kind && r.inputs?.metadata?.name === name);
    assert.ok(found, `${kind}/${name} is registered`);
    return found;
};
const jobResource = (run: ProgramRun, stage: string) => resourceOf(run, "Job", `carry-votes-${stage}`);
const containerOf = (o: KubernetesObject) => o.spec.template.spec.containers[0];

describe("the vote carry's Jobs (Redis → MySQL)", () => {
    for (const api of TRAFFIC_APIS) {
        const suffix = api === "istio" ? "" : ` (traffic.api=${api})`;
        it(`each stage registers exactly its carry Job${suffix}`, async () => {
            for (const stage of STAGE_NAMES) {
                const objects = appObjects(await runStageIn(api, stage));
                const jobs = objects.filter((o) => o.kind === "Job").map((o) => o.metadata.name);
                assert.deepEqual(jobs, EXPECTED_JOBS[stage], stage);
                // Every Job of the app is a carry (runs dist/carry.js): the replay's checks find them by that.
                assert.deepEqual(
                    carryJobs(objects).map((o) => o.metadata.name),
                    jobs,
                    stage,
                );
            }
        });
    }

    for (const build of ["true", "false"]) {
        it(`runs the app 2.0 image the stage deploys, \`node dist/carry.js\`, once, never restarted in place (images.build=${build})`, async () => {
            for (const stage of ["canary", "finalize"]) {
                const run = await runStage(
                    stage,
                    build === "true"
                        ? {}
                        : { "images.build": "false", "images.registry": "registry.example.com/voting" },
                );
                const objects = appObjects(run);
                const job = find(objects, "Job", `carry-votes-${stage}`)!;
                const app2 = find(objects, "Deployment", "voting-app-2-0")!;
                assert.equal(containerOf(job).image, containerOf(app2).image, stage);
                if (build === "false")
                    assert.equal(containerOf(job).image, "registry.example.com/voting/voting-app:2.0");
                else assert.match(containerOf(job).image, /\/voting-app:2\.0@sha256:[0-9a-f]{64}$/);
                assert.deepEqual(containerOf(job).command, ["node", "dist/carry.js"]);
                assert.equal(job.metadata.namespace, "voting");
                assert.equal(job.spec.template.spec.restartPolicy, "Never");
                assert.ok(job.spec.backoffLimit >= 1, "a failed attempt is retried in a new pod");
                // Pods × CARRY_TIMEOUT_MS (60 s) + Kubernetes' backoff (10 s doubling) within the 10 minutes
                // the provider waits for a Job.
                const pods = job.spec.backoffLimit + 1;
                const backoff = Array.from({ length: pods - 1 }, (_, i) => 10 * 2 ** i).reduce((a, b) => a + b, 0);
                assert.ok(pods * 60 + backoff < 600, `${pods} pods and ${backoff} s of backoff outlast Pulumi's wait`);
                // A failed carry is run again by the next `pulumi up` (the provider replaces an unready Job).
                assert.equal(
                    (job.metadata.annotations as Record<string, string> | undefined)?.["pulumi.com/replaceUnready"],
                    "true",
                );
                // Jobs are immutable: a changed spec must replace the old Job, deleting it first (fixed name).
                assert.equal(jobResource(run, stage).deleteBeforeReplace, true);
                // As locked down as the app's own pods.
                assert.equal(containerOf(job).securityContext.readOnlyRootFilesystem, true);
                assert.equal(containerOf(job).securityContext.allowPrivilegeEscalation, false);
                assert.equal(job.spec.template.spec.securityContext.runAsNonRoot, true);
            }
        });
    }

    it("reaches both stores through the storage Service with the candidates the apps count; MySQL's credentials only from the Secret", async () => {
        for (const stage of ["canary", "finalize"]) {
            const run = await runProgram(
                { stage },
                { mysqlPassword: "pw-in-config-1", mysqlRootPassword: "root-pw-2" },
            );
            const objects = appObjects(run);
            const job = find(objects, "Job", `carry-votes-${stage}`)!;
            const env = Object.fromEntries(containerOf(job).env.map((e: any) => [e.name, e]));
            assert.deepEqual(
                Object.fromEntries(
                    ["REDIS_HOST", "REDIS_PORT", "MYSQL_HOST", "MYSQL_PORT"].map((k) => [k, env[k]?.value]),
                ),
                { REDIS_HOST: "voting-storage", REDIS_PORT: "6379", MYSQL_HOST: "voting-storage", MYSQL_PORT: "3306" },
            );
            // seed at canary, final at finalize: a final carry lets a later run find Redis gone
            assert.equal(env.CARRY_MODE?.value, { canary: "seed", finalize: "final" }[stage]);
            const app2Env = Object.fromEntries(
                containerOf(find(objects, "Deployment", "voting-app-2-0")!).env.map((e: any) => [e.name, e]),
            );
            for (const k of ["VOTE1VALUE", "VOTE2VALUE"]) assert.deepEqual(env[k], app2Env[k], k);
            for (const k of ["MYSQL_DATABASE", "MYSQL_USER", "MYSQL_PASSWORD"]) {
                assert.equal(env[k].value, undefined, `${k} in plain text`);
                assert.deepEqual(env[k].valueFrom, { secretKeyRef: { name: "voting-storage-secret", key: k } }, k);
            }
            const text = JSON.stringify(jobResource(run, stage).inputs);
            for (const secret of ["pw-in-config-1", "root-pw-2"])
                assert.ok(!text.includes(secret), `${secret} in the Job`);
            assert.doesNotMatch(text, /MYSQL_ROOT_PASSWORD/);
            // Control: the same search finds the password where it is (the Secret's data).
            assert.ok(
                JSON.stringify(resourceOf(run, "Secret", "voting-storage-secret").inputs).includes("pw-in-config-1"),
            );
        }
    });

    describe("what each Job waits for, and what waits for it", () => {
        const deps = (run: ProgramRun) => {
            const all = closure(run);
            return (r: RegisteredResource) => all.get(r.urn)!;
        };
        const storeDeployment = (run: ProgramRun, version: string) =>
            resourceOf(run, "Deployment", `voting-storage-${version.replace(".", "-")}`);
        const storageService = (run: ProgramRun) => resourceOf(run, "Service", "voting-storage");

        /** Problems with the seed's registrations; [] when right. */
        const seedProblems = (run: ProgramRun): string[] => {
            const problems: string[] = [];
            const job = run.resources.find((r) => r.inputs?.kind === "Job");
            if (!job) return ["no seed Job"];
            const of = deps(run);
            for (const needed of [storageService(run), storeDeployment(run, "1.0"), storeDeployment(run, "2.0")])
                if (!of(job).has(needed.urn)) problems.push(`the seed does not wait for ${needed.name}`);
            for (const client of ["voting-app-2-0", "voting-analytics-2-0"]) {
                if (!of(resourceOf(run, "Deployment", client)).has(job.urn))
                    problems.push(`${client} does not wait for the seed`);
            }
            for (const client of ["voting-app-1-0", "voting-analytics-1-0", "voting-analytics-1-1"]) {
                if (of(resourceOf(run, "Deployment", client)).has(job.urn))
                    problems.push(`${client} (on Redis) waits for the seed`);
            }
            return problems;
        };

        /** Problems with the final carry's registrations; [] when right. */
        const finalProblems = (run: ProgramRun): string[] => {
            const problems: string[] = [];
            const job = run.resources.find((r) => r.inputs?.kind === "Job");
            if (!job) return ["no final Job"];
            const of = deps(run);
            const routes = run.resources.filter((r) => /^(VirtualService|HTTPRoute)$/.test(r.inputs?.kind ?? ""));
            assert.ok(routes.length >= 2);
            for (const needed of [storageService(run), storeDeployment(run, "2.0"), ...routes])
                if (!of(job).has(needed.urn)) problems.push(`the final carry does not wait for ${needed.name}`);
            return problems;
        };

        for (const api of TRAFFIC_APIS) {
            const suffix = api === "istio" ? "" : ` (traffic.api=${api})`;
            it(`canary: the seed after the storage Service and both stores; 2.0's clients after the seed, 1.x's not${suffix}`, async () => {
                assert.deepEqual(seedProblems(await runStageIn(api, "canary")), []);
                assert.deepEqual(seedProblems(await runStageIn(api, "canary", { canaryWeight: "30" })), []);
            });
            it(`finalize: the final carry after MySQL and after every route moved users off 1.x${suffix}`, async () => {
                assert.deepEqual(finalProblems(await runStageIn(api, "finalize")), []);
            });
        }

        it("control: the same checks catch a skipped carry and missing dependencies", async () => {
            const [canary, finalize] = [await runStage("canary"), await runStage("finalize")];
            const without = (run: ProgramRun): ProgramRun => {
                const jobs = new Set(run.resources.filter((r) => r.inputs?.kind === "Job").map((r) => r.urn));
                return {
                    ...run,
                    resources: run.resources
                        .filter((r) => !jobs.has(r.urn))
                        .map((r) => ({ ...r, dependencies: r.dependencies.filter((d) => !jobs.has(d)) })),
                };
            };
            const jobWithout = (run: ProgramRun, kinds: RegExp): ProgramRun => ({
                ...run,
                resources: run.resources.map((r) =>
                    r.inputs?.kind === "Job"
                        ? {
                              ...r,
                              dependencies: r.dependencies.filter(
                                  (d) => !kinds.test(run.resources.find((x) => x.urn === d)?.inputs?.kind ?? ""),
                              ),
                          }
                        : r,
                ),
            });
            assert.deepEqual(seedProblems(without(canary)), ["no seed Job"]);
            assert.deepEqual(finalProblems(without(finalize)), ["no final Job"]);
            assert.deepEqual(seedProblems(jobWithout(canary, /^(Deployment|Service)$/)), [
                "the seed does not wait for voting-storage",
                "the seed does not wait for voting-storage-1-0",
                "the seed does not wait for voting-storage-2-0",
            ]);
            const careless = jobWithout(finalize, /^VirtualService$/);
            assert.ok(finalProblems(careless).some((p) => /does not wait for voting-app-virtualservice/.test(p)));
        });
    });
});

describe("the carry's order in a real engine's event log (what the end-to-end walk checks with carryOrderProblems)", () => {
    const names = {
        redis: "Deployment/voting-storage-1-0",
        mysql: "Deployment/voting-storage-2-0",
        mysqlClients: ["Deployment/voting-app-2-0", "Deployment/voting-analytics-2-0"],
        stageRunsRedis: false,
    };
    const ev = (phase: AppliedStep["phase"], op: string, label: string): AppliedStep => ({ phase, op, label });
    const step = (op: string, label: string) => [ev("start", op, label), ev("done", op, label)];
    const finalize = [
        ...step("update", "VirtualService/voting-app"),
        ...step("update", "VirtualService/voting-analytics"),
        ...step("create", "Job/carry-votes-finalize"),
        ...step("delete", "Deployment/voting-app-1-0"),
        ...step("delete", "Deployment/voting-storage-1-0"),
    ];
    const canary = [
        ...step("create", "Deployment/voting-storage-2-0"),
        ...step("create", "Job/carry-votes-canary"),
        ...step("create", "Deployment/voting-app-2-0"),
        ...step("create", "Deployment/voting-analytics-2-0"),
    ];
    const at = { ...names, stageRunsRedis: true };

    it("holds the order canary -> finalize and lockdown -> canary", () => {
        assert.deepEqual(carryOrderProblems(finalize, names), []);
        assert.deepEqual(carryOrderProblems(canary, at), []);
    });

    it("control: a skipped carry, Redis deleted first, a carry before the routes, clients before the seed", () => {
        const without = (events: AppliedStep[]) => events.filter((e) => !e.label.startsWith("Job/"));
        assert.deepEqual(carryOrderProblems(without(finalize), names), [
            "Deployment/voting-storage-1-0 deleted without a carry in the up",
        ]);
        assert.deepEqual(carryOrderProblems(without(canary), at), [
            "Deployment/voting-app-2-0, Deployment/voting-analytics-2-0 created without a carry in the up",
        ]);
        const [a, b, c, d, e] = [0, 2, 4, 6, 8].map((i) => finalize.slice(i, i + 2));
        assert.deepEqual(carryOrderProblems([...a!, ...b!, ...e!, ...c!, ...d!], names), [
            "Deployment/voting-storage-1-0 deleted before Job/carry-votes-finalize completed",
        ]);
        assert.deepEqual(carryOrderProblems([...a!, ...c!, ...b!, ...d!, ...e!], names), [
            "Job/carry-votes-finalize started before VirtualService/voting-analytics was updated",
        ]);
        const [mysql, seed, app, analytics] = [0, 2, 4, 6].map((i) => canary.slice(i, i + 2));
        assert.deepEqual(carryOrderProblems([...mysql!, ...app!, ...seed!, ...analytics!], at), [
            "Deployment/voting-app-2-0 started before Job/carry-votes-canary completed",
        ]);
        assert.deepEqual(carryOrderProblems([...seed!, ...mysql!, ...app!, ...analytics!], at), [
            "Job/carry-votes-canary started before Deployment/voting-storage-2-0 was ready",
        ]);
    });
});
