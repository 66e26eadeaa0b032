/**
 * Metric-gated promotion (cmd/promote.ts), with a recorded stack and scripted metrics: which
 * settings and `up`s it makes, in which order, when it finalizes and when it rolls back. The same
 * command against the real engine, a real API server and a real Prometheus is in the end-to-end
 * walk (e2e/walk/promotion.ts).
 */
import { strict as assert } from "assert";
import { dryRun, planFromArgs, promote, PromotedStack } from "../cmd/promote";
import { evaluateCheck, FLAGGER_GATES, parseDuration, parseSteps, PromotionPlan } from "../stages/promotion";

const PLAN: PromotionPlan = {
    steps: [10, 50, 100],
    intervalMs: 1000,
    threshold: 2,
    gates: FLAGGER_GATES,
    window: "1m",
};

/** A stack that records what promotion does to it, and metrics that answer from a script. */
function rig(metrics: [number | undefined, number | undefined][]) {
    const trace: string[] = [];
    const settings: Record<string, string> = { stage: "canary", canaryWeight: "0" };
    let check = 0;
    const stack: PromotedStack = {
        name: "test",
        setSetting: async (key, value) => {
            settings[key] = value;
        },
        up: async () => {
            trace.push(`up ${settings.stage}@${settings.canaryWeight}`);
            return { stage: settings.stage, canaryWeight: Number(settings.canaryWeight) };
        },
        stage: async () => settings.stage,
    };
    const log: string[] = [];
    return {
        trace,
        log,
        deps: {
            stack,
            query: async (promql: string) => {
                const [rate, p99] = metrics[Math.min(Math.floor(check / 2), metrics.length - 1)];
                check++;
                return promql.startsWith("histogram_quantile") ? p99 : rate;
            },
            sleep: async (ms: number) => {
                trace.push(`wait ${ms}`);
            },
            log: (line: string) => log.push(line),
        },
    };
}

describe("promote: the canary moves forward only while its metrics are healthy", () => {
    it("healthy: each step is an up and a passed check; then finalize", async () => {
        const r = rig([[99.9, 120]]);
        const result = await promote(PLAN, r.deps);
        assert.deepEqual(result, { outcome: "finalized", checks: 3, failedChecks: 0 });
        assert.deepEqual(r.trace, [
            "up canary@10",
            "wait 1000",
            "up canary@50",
            "wait 1000",
            "up canary@100",
            "wait 1000",
            "up finalize@0",
        ]);
        assert.match(r.log.join("\n"), /check 1: success rate 99\.9 % \(>= 99 %\), p99 120 ms \(<= 500 ms\): passed/);
    });

    for (const [name, metrics, why] of [
        ["erroring (5xx)", [95, 120], /success rate 95\.0 % is below 99 %/],
        ["slow", [100, 900], /p99 latency 900 ms is above 500 ms/],
        ["silent (no data)", [undefined, undefined], /success rate: no data; p99 latency: no data/],
    ] as const) {
        it(`${name}: after the threshold of failed checks, canaryWeight 0, then the previous stage; says why`, async () => {
            const r = rig([metrics as [number | undefined, number | undefined]]);
            const result = await promote(PLAN, r.deps);
            assert.equal(result.outcome, "rolled-back");
            assert.match(result.reason!, why);
            assert.deepEqual(r.trace, ["up canary@10", "wait 1000", "wait 1000", "up canary@0", "up lockdown@0"]);
            assert.match(r.log.join("\n"), /FAILED .* 1 of 2[\s\S]*FAILED .* 2 of 2[\s\S]*rolled back to lockdown/);
        });
    }

    it("a failed check below the threshold: checked again at the same weight, and on it goes", async () => {
        const r = rig([
            [99.9, 100],
            [90, 100],
            [99.9, 100],
        ]);
        const result = await promote(PLAN, r.deps);
        assert.deepEqual(result, { outcome: "finalized", checks: 4, failedChecks: 1 });
        assert.deepEqual(r.trace, [
            "up canary@10",
            "wait 1000",
            "up canary@50",
            "wait 1000",
            "wait 1000",
            "up canary@100",
            "wait 1000",
            "up finalize@0",
        ]);
    });

    it("refuses a stack that is not at canary, before changing anything", async () => {
        const r = rig([[100, 1]]);
        r.deps.stack.stage = async () => "lockdown";
        await assert.rejects(promote(PLAN, r.deps), /stack test is at stage lockdown: promotion starts from canary/);
        assert.deepEqual(r.trace, []);
    });
});

describe("promote: gates, steps and the command line", () => {
    it("gates: Flagger's Istio tutorial's, no data fails, the boundaries pass", () => {
        assert.deepEqual(FLAGGER_GATES, { minSuccessRate: 99, maxLatencyP99Ms: 500 });
        assert.equal(evaluateCheck(99, 500, FLAGGER_GATES).passed, true);
        assert.equal(evaluateCheck(98.99, 10, FLAGGER_GATES).passed, false);
        assert.equal(evaluateCheck(100, 500.1, FLAGGER_GATES).passed, false);
        assert.equal(evaluateCheck(NaN, 10, FLAGGER_GATES).passed, false);
        assert.equal(evaluateCheck(100, undefined, FLAGGER_GATES).passed, false);
    });

    it("steps, durations and numbers are validated before anything runs", () => {
        assert.deepEqual(parseSteps("10,25,50,100"), [10, 25, 50, 100]);
        for (const bad of ["", "50,10", "0,50", "10,101", "10,x", "10,10"])
            assert.throws(() => parseSteps(bad), /--steps/);
        assert.equal(parseDuration("1m"), 60_000);
        assert.equal(parseDuration("2m30s"), 150_000);
        assert.equal(parseDuration("500ms"), 500);
        for (const bad of ["", "1", "1 m", "m1", "1d"]) assert.throws(() => parseDuration(bad), /expected a duration/);
        assert.throws(() => planFromArgs({ threshold: "0" }), /--threshold "0"/);
        assert.throws(() => planFromArgs({ "min-success-rate": "101" }), /--min-success-rate/);
        const plan = planFromArgs({ steps: "20,100", interval: "30s", threshold: "3", "max-p99": "250" });
        assert.deepEqual(plan, {
            steps: [20, 100],
            intervalMs: 30_000,
            threshold: 3,
            gates: { minSuccessRate: 99, maxLatencyP99Ms: 250 },
            window: "1m",
        });
    });

    it("--dry-run prints the steps, the rollback, the gates and Flagger's queries", () => {
        const text = dryRun("dev", planFromArgs({ steps: "10,100" }), "http://prometheus:9090");
        assert.match(text, /1\. canaryWeight 10, pulumi up/);
        assert.match(text, /3\. stage finalize, canaryWeight 0, pulumi up/);
        assert.match(text, /after 5 failed checks: canaryWeight 0, pulumi up; stage lockdown, pulumi up; exit 1/);
        assert.match(
            text,
            /sum\(rate\(istio_requests_total\{reporter="destination",destination_workload_namespace="voting",destination_workload="voting-app-2-0",response_code!~"5\.\*"\}\[1m\]\)\)/,
        );
        assert.match(
            text,
            /histogram_quantile\(0\.99, sum\(rate\(istio_request_duration_milliseconds_bucket\{reporter="destination"/,
        );
    });
});
