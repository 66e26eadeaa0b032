/**
 * Metric-gated promotion of the canary, as data: the steps, the gates, the queries. No Pulumi in
 * here: `cmd/promote.ts` drives a stack through them with the Automation API.
 *
 * The gates and queries are Flagger's for Istio (its Istio progressive-delivery tutorial): the
 * canary's request success rate and its p99 latency, from Istio's standard metrics as the
 * destination's sidecar reports them (`reporter="destination"`), for the voting-app 2.0 workload.
 */
import { STAGE_NAMES, StageName } from "./model";
import { APP_NAMESPACE, workloadName } from "./names";

/** What a check must show to pass. */
export interface Gates {
    /** Minimum share of the canary's requests that are not 5xx, in percent. */
    minSuccessRate: number;
    /** Maximum 99th percentile of the canary's request duration, in milliseconds. */
    maxLatencyP99Ms: number;
}

/** Flagger's Istio tutorial: request-success-rate >= 99 %, request-duration p99 <= 500 ms. */
export const FLAGGER_GATES: Gates = { minSuccessRate: 99, maxLatencyP99Ms: 500 };

export interface PromotionPlan {
    /** canaryWeight at each step, increasing, the last 100 at most. */
    steps: number[];
    /** Time between an `up` (or a failed check) and the next check, in milliseconds. */
    intervalMs: number;
    /** Failed checks (in all) after which the canary is rolled back. */
    threshold: number;
    gates: Gates;
    /** PromQL range the rates are taken over, e.g. "1m". */
    window: string;
}

export const DEFAULT_PLAN: PromotionPlan = {
    steps: [10, 25, 50, 100],
    intervalMs: 60_000,
    threshold: 5,
    gates: FLAGGER_GATES,
    window: "1m",
};

/** The stage promotion starts from, the one it ends at, and the one a rollback returns to. */
export const PROMOTION_STAGES: { from: StageName; to: StageName; rollbackTo: StageName } = {
    from: "canary",
    to: "finalize",
    rollbackTo: STAGE_NAMES[STAGE_NAMES.indexOf("canary") - 1],
};

/** The workload whose metrics are the canary's. */
export const CANARY_WORKLOAD = workloadName({ component: "voting-app", version: "2.0" });

/** Flagger's two Istio queries, for the canary workload over `window`. */
export function canaryQueries(
    window: string,
    namespace: string = APP_NAMESPACE,
    workload: string = CANARY_WORKLOAD,
): { successRate: string; latencyP99: string } {
    const selector = `reporter="destination",destination_workload_namespace="${namespace}",destination_workload="${workload}"`;
    return {
        successRate:
            `sum(rate(istio_requests_total{${selector},response_code!~"5.*"}[${window}])) / ` +
            `sum(rate(istio_requests_total{${selector}}[${window}])) * 100`,
        latencyP99: `histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{${selector}}[${window}])) by (le))`,
    };
}

export interface CheckResult {
    /** undefined: the query returned no data. */
    successRate?: number;
    latencyP99Ms?: number;
    passed: boolean;
    /** Why it failed, one line per gate. */
    failures: string[];
}

const known = (x: number | undefined): x is number => x !== undefined && Number.isFinite(x);

/** A check against the gates: no data counts as a failed check. */
export function evaluateCheck(
    successRate: number | undefined,
    latencyP99Ms: number | undefined,
    gates: Gates,
): CheckResult {
    const failures: string[] = [];
    if (!known(successRate)) failures.push("success rate: no data");
    else if (successRate < gates.minSuccessRate)
        failures.push(`success rate ${successRate.toFixed(1)} % is below ${gates.minSuccessRate} %`);
    if (!known(latencyP99Ms)) failures.push("p99 latency: no data");
    else if (latencyP99Ms > gates.maxLatencyP99Ms)
        failures.push(`p99 latency ${Math.round(latencyP99Ms)} ms is above ${gates.maxLatencyP99Ms} ms`);
    return {
        ...(known(successRate) ? { successRate } : {}),
        ...(known(latencyP99Ms) ? { latencyP99Ms } : {}),
        passed: failures.length === 0,
        failures,
    };
}

/** "10,25,50,100": increasing integer weights from 1 to 100. */
export function parseSteps(raw: string): number[] {
    const steps = raw.split(",").map((s) => s.trim());
    const weights = steps.map(Number);
    const valid =
        steps.length > 0 &&
        steps.every((s) => /^\d+$/.test(s)) &&
        weights.every((w, i) => w >= 1 && w <= 100 && (i === 0 || w > weights[i - 1]));
    if (!valid)
        throw new Error(
            `--steps ${JSON.stringify(raw)}: expected increasing integer weights from 1 to 100, e.g. 10,25,50,100`,
        );
    return weights;
}

/** "1m", "30s", "500ms", "2m30s" in milliseconds. */
export function parseDuration(raw: string): number {
    const parts = [...raw.matchAll(/(\d+)(ms|s|m|h)/g)];
    const whole = parts.map((p) => p[0]).join("");
    if (parts.length === 0 || whole !== raw)
        throw new Error(`${JSON.stringify(raw)}: expected a duration such as 1m, 30s or 500ms`);
    const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;
    return parts.reduce((sum, p) => sum + Number(p[1]) * unit[p[2] as keyof typeof unit], 0);
}
