/**
 * The vote carry (issue 20) after each of the walk's ups: the stage's carry Jobs there and
 * completed, and, in the engine's own event log of the up, each carry in its place between the
 * stores, the routes and the MySQL clients (test/support/carry.ts says the order).
 */
import { strict as assert } from "assert";
import { EXPECTED } from "../../test/support/expected";
import { AppliedStep, carryOrderProblems } from "../../test/support/carry";
import { until } from "../clusterSetup";
import { KubeClient } from "../kube";
import { StageName } from "../../stages/model";
import { APP_NAMESPACE, workloadName } from "../../stages/names";

/**
 * The vote carry (issue 20) after an up: the stage's carry Jobs there and completed, and, in the
 * engine's own event log of the up, each carry after the stores it reads and before the MySQL
 * clients it seeds or the delete of Redis it precedes, after the routes moved users off 1.x.
 * On the throwaway control plane kwok lets a Job's pod succeed at once: the carry's code does
 * not run here (app/test/carry*.test.ts runs it against real Redis and MariaDB). Control: the
 * same log without the carry's events must be reported wherever the up carried.
 */
export async function checkVoteCarry(
    kube: KubeClient,
    what: string,
    from: StageName | undefined,
    stage: StageName,
    events: AppliedStep[],
) {
    const expected = EXPECTED[stage].filter((l) => l.startsWith("Job/")).map((l) => l.slice("Job/".length));
    const jobs = await until(`${what}: the carry Jobs to complete`, 60, async () => {
        const listed = await kube.list("Job", APP_NAMESPACE);
        return listed.every((j) =>
            (j.status?.conditions ?? []).some((c: any) => c.type === "Complete" && c.status === "True"),
        )
            ? listed
            : undefined;
    });
    assert.deepEqual(jobs.map((j) => j.metadata.name).sort(), expected.sort(), `${what}: the carry Jobs`);
    for (const job of jobs)
        assert.ok((job.status?.succeeded ?? 0) >= 1, `${what}: Job/${job.metadata.name} did not succeed`);

    const names = {
        redis: `Deployment/${workloadName({ component: "voting-storage", version: "1.0" })}`,
        mysql: `Deployment/${workloadName({ component: "voting-storage", version: "2.0" })}`,
        mysqlClients: (["voting-app", "voting-analytics"] as const).map(
            (component) => `Deployment/${workloadName({ component, version: "2.0" })}`,
        ),
        stageRunsRedis: EXPECTED[stage].includes(
            `Deployment/${workloadName({ component: "voting-storage", version: "1.0" })}`,
        ),
    };
    assert.deepEqual(carryOrderProblems(events, names), [], `${what}: the engine's order`);
    // The up ran a carry where it entered a stage with one (not from a stage with the same Job).
    const created = events.filter((e) => e.phase === "done" && e.op === "create" && e.label.startsWith("Job/"));
    const entering = expected.filter((j) => !from || !EXPECTED[from].includes(`Job/${j}`));
    assert.deepEqual(
        created.map((e) => e.label.slice("Job/".length)),
        entering,
        `${what}: the carry Jobs the up created`,
    );
    // Control: where the carry is what keeps the order (Redis deleted, or MySQL's clients started
    // beside Redis), the same log without the carry's events must be reported.
    const guards =
        events.some((e) => e.op === "delete" && e.label === names.redis) ||
        (names.stageRunsRedis && events.some((e) => e.op === "create" && names.mysqlClients.includes(e.label)));
    if (guards) {
        const withoutCarry = events.filter((e) => !e.label.startsWith("Job/"));
        assert.notDeepEqual(
            carryOrderProblems(withoutCarry, names),
            [],
            `${what}: control, the carry's events removed`,
        );
    }
}
