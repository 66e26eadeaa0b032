/**
 * `npm run promote -- --stack <name> [--steps 10,25,50,100] [--interval 1m] [--threshold 5]
 *   [--prometheus http://localhost:9090] [--min-success-rate 99] [--max-p99 500] [--window 1m] [--dry-run]`
 *
 * Moves a stack's canary forward while its metrics are healthy, through the Automation API: for
 * each step it sets `canaryWeight`, runs `pulumi up`, waits one interval and asks Prometheus for
 * the canary's success rate and p99 latency (Flagger's Istio queries, stages/promotion.ts). A check
 * with no data fails. After `threshold` failed checks it rolls back (canaryWeight 0, then the
 * previous stage as a second `up`), says why and exits 1; after the last step it moves the stack to
 * finalize. The stack stays the single source of truth: every change is a setting and an `up`.
 */
import * as path from "path";
import { parseArgs } from "util";
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import {
    canaryQueries,
    DEFAULT_PLAN,
    evaluateCheck,
    parseDuration,
    parseSteps,
    PROMOTION_STAGES,
    PromotionPlan,
} from "../stages/promotion";
import { STAGE_NAMES } from "../stages/model";
import { PROJECT } from "../stages/names";

const ROOT = path.resolve(__dirname, "..");

/** The stack as promotion needs it: its settings, `up`, and what it is at. */
export interface PromotedStack {
    name: string;
    setSetting(key: "stage" | "canaryWeight", value: string): Promise<void>;
    /** `pulumi up`; returns the stack's stage and canaryWeight outputs. */
    up(): Promise<{ stage: string; canaryWeight: number }>;
    /** The stage the stack's settings name now. */
    stage(): Promise<string>;
}

export interface PromotionDeps {
    stack: PromotedStack;
    /** An instant PromQL query: the first sample's value, or undefined when there is none. */
    query(promql: string): Promise<number | undefined>;
    sleep(ms: number): Promise<void>;
    log(line: string): void;
    /** Called after each `up` (tests check the cluster there). */
    afterUp?(stage: string, canaryWeight: number): Promise<void>;
}

export interface PromotionResult {
    outcome: "finalized" | "rolled-back";
    /** Why it rolled back. */
    reason?: string;
    checks: number;
    failedChecks: number;
}

const seconds = (ms: number) => (ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`);

/** Drives the stack from canary to finalize, or back to the stage before canary. */
export async function promote(plan: PromotionPlan, deps: PromotionDeps): Promise<PromotionResult> {
    const { stack, log } = deps;
    const stage = await stack.stage();
    if (stage !== PROMOTION_STAGES.from)
        throw new Error(`stack ${stack.name} is at stage ${stage}: promotion starts from ${PROMOTION_STAGES.from}`);
    const queries = canaryQueries(plan.window);
    const { gates } = plan;
    log(
        `promote: stack ${stack.name}, ${PROMOTION_STAGES.from} -> ${PROMOTION_STAGES.to} in ${plan.steps.length} steps ` +
            `(${plan.steps.join(", ")} %), a check ${seconds(plan.intervalMs)} after each step, ` +
            `gates: success rate >= ${gates.minSuccessRate} %, p99 <= ${gates.maxLatencyP99Ms} ms; ` +
            `${plan.threshold} failed checks roll back to ${PROMOTION_STAGES.rollbackTo}`,
    );
    const up = async (what: string) => {
        const t = Date.now();
        const outputs = await stack.up();
        log(`promote: ${what}: pulumi up done in ${seconds(Date.now() - t)}`);
        await deps.afterUp?.(outputs.stage, outputs.canaryWeight);
    };
    let checks = 0;
    let failedChecks = 0;
    for (const [i, weight] of plan.steps.entries()) {
        const step = `step ${i + 1}/${plan.steps.length}, canaryWeight ${weight}`;
        await stack.setSetting("canaryWeight", String(weight));
        await up(step);
        for (;;) {
            log(`promote: ${step}: next check in ${seconds(plan.intervalMs)}`);
            await deps.sleep(plan.intervalMs);
            const [successRate, latency] = await Promise.all([
                deps.query(queries.successRate),
                deps.query(queries.latencyP99),
            ]);
            const result = evaluateCheck(successRate, latency, gates);
            checks++;
            const rate = result.successRate === undefined ? "no data" : `${result.successRate.toFixed(1)} %`;
            const p99 = result.latencyP99Ms === undefined ? "no data" : `${Math.round(result.latencyP99Ms)} ms`;
            if (!result.passed) failedChecks++;
            log(
                `promote: ${step}: check ${checks}: success rate ${rate} (>= ${gates.minSuccessRate} %), ` +
                    `p99 ${p99} (<= ${gates.maxLatencyP99Ms} ms): ` +
                    (result.passed
                        ? "passed"
                        : `FAILED (${result.failures.join("; ")}), ${failedChecks} of ${plan.threshold}`),
            );
            if (result.passed) break;
            if (failedChecks >= plan.threshold) {
                const reason = `${failedChecks} failed checks at ${step}: ${result.failures.join("; ")}`;
                log(`promote: rolling back: ${reason}`);
                await stack.setSetting("canaryWeight", "0");
                await up("rollback, canaryWeight 0");
                await stack.setSetting("stage", PROMOTION_STAGES.rollbackTo);
                await up(`rollback, stage ${PROMOTION_STAGES.rollbackTo}`);
                log(`promote: rolled back to ${PROMOTION_STAGES.rollbackTo}`);
                return { outcome: "rolled-back", reason, checks, failedChecks };
            }
        }
    }
    await stack.setSetting("stage", PROMOTION_STAGES.to);
    await stack.setSetting("canaryWeight", "0");
    await up(`every step passed: stage ${PROMOTION_STAGES.to}`);
    log(`promote: ${stack.name} is at ${PROMOTION_STAGES.to}`);
    return { outcome: "finalized", checks, failedChecks };
}

/** A stack of the Automation API as promotion drives it. */
export function automationStack(stack: Stack, onOutput?: (line: string) => void): PromotedStack {
    return {
        name: stack.name,
        setSetting: (key, value) => stack.setConfig(`${PROJECT}:${key}`, { value }),
        up: async () => {
            const result = await stack.up({ onOutput });
            return {
                stage: String(result.outputs.stage?.value),
                canaryWeight: Number(result.outputs.canaryWeight?.value),
            };
        },
        // A stack without the setting runs Pulumi.yaml's default, the first stage.
        stage: async () =>
            (await stack.getConfig(`${PROJECT}:stage`).catch(() => ({ value: STAGE_NAMES[0] as string }))).value,
    };
}

/** Prometheus's instant query API: the first sample's value, undefined when there is none (or NaN). */
export function prometheusQuery(baseUrl: string): (promql: string) => Promise<number | undefined> {
    return async (promql) => {
        const response = await fetch(`${baseUrl.replace(/\/$/, "")}/api/v1/query?query=${encodeURIComponent(promql)}`);
        if (!response.ok)
            throw new Error(`Prometheus at ${baseUrl} answered ${response.status}: ${await response.text()}`);
        const body = (await response.json()) as { data?: { result?: { value?: [number, string] }[] } };
        const value = Number(body.data?.result?.[0]?.value?.[1]);
        return Number.isFinite(value) ? value : undefined;
    };
}

/** What --dry-run prints: the steps, the ups, the queries and the gates; nothing is changed. */
export function dryRun(stackName: string, plan: PromotionPlan, prometheus: string): string {
    const queries = canaryQueries(plan.window);
    return [
        `promote --dry-run: stack ${stackName} (must be at ${PROMOTION_STAGES.from}); nothing is changed`,
        ...plan.steps.map(
            (w, i) =>
                `  ${i + 1}. canaryWeight ${w}, pulumi up, then every ${seconds(plan.intervalMs)} a check until one passes`,
        ),
        `  ${plan.steps.length + 1}. stage ${PROMOTION_STAGES.to}, canaryWeight 0, pulumi up`,
        `  after ${plan.threshold} failed checks: canaryWeight 0, pulumi up; stage ${PROMOTION_STAGES.rollbackTo}, pulumi up; exit 1`,
        `gates: success rate >= ${plan.gates.minSuccessRate} %, p99 <= ${plan.gates.maxLatencyP99Ms} ms (no data fails)`,
        `Prometheus: ${prometheus}`,
        `  success rate: ${queries.successRate}`,
        `  p99 latency:  ${queries.latencyP99}`,
        "",
    ].join("\n");
}

/** A PromQL range such as 1m or 30s, validated as a duration. */
function promqlRange(raw: string): string {
    parseDuration(raw);
    return raw;
}

/** The command line's plan, validated before anything runs. */
export function planFromArgs(values: Record<string, string | boolean | undefined>): PromotionPlan {
    const number = (key: string, fallback: number, min: number, max: number) => {
        const raw = values[key];
        if (raw === undefined) return fallback;
        const n = Number(raw);
        if (typeof raw !== "string" || !/^\d+(\.\d+)?$/.test(raw) || n < min || n > max)
            throw new Error(`--${key} ${JSON.stringify(raw)}: expected a number from ${min} to ${max}`);
        return n;
    };
    const threshold = number("threshold", DEFAULT_PLAN.threshold, 1, 1000);
    if (!Number.isInteger(threshold)) throw new Error(`--threshold ${threshold}: expected a whole number`);
    return {
        steps: typeof values.steps === "string" ? parseSteps(values.steps) : DEFAULT_PLAN.steps,
        intervalMs: typeof values.interval === "string" ? parseDuration(values.interval) : DEFAULT_PLAN.intervalMs,
        threshold,
        gates: {
            minSuccessRate: number("min-success-rate", DEFAULT_PLAN.gates.minSuccessRate, 0, 100),
            maxLatencyP99Ms: number("max-p99", DEFAULT_PLAN.gates.maxLatencyP99Ms, 0, 3_600_000),
        },
        window: typeof values.window === "string" ? promqlRange(values.window) : DEFAULT_PLAN.window,
    };
}

async function main(argv: string[]): Promise<number> {
    const usage =
        "usage: npm run promote -- --stack <name> [--steps 10,25,50,100] [--interval 1m] [--threshold 5] " +
        "[--prometheus http://localhost:9090] [--min-success-rate 99] [--max-p99 500] [--window 1m] [--dry-run]\n";
    let values;
    let plan: PromotionPlan;
    try {
        ({ values } = parseArgs({
            args: argv,
            options: {
                stack: { type: "string" },
                steps: { type: "string" },
                interval: { type: "string" },
                threshold: { type: "string" },
                prometheus: { type: "string" },
                "min-success-rate": { type: "string" },
                "max-p99": { type: "string" },
                window: { type: "string" },
                "dry-run": { type: "boolean" },
                help: { type: "boolean", short: "h" },
            },
            strict: true,
        }));
        if (values.help) {
            process.stdout.write(usage);
            return 0;
        }
        if (!values.stack) throw new Error("--stack is required");
        plan = planFromArgs(values);
    } catch (err) {
        process.stderr.write(`promote: ${(err as Error).message}\n${usage}`);
        return 2;
    }
    const prometheus = values.prometheus ?? process.env.PROMETHEUS_URL ?? "http://localhost:9090";
    if (values["dry-run"]) {
        process.stdout.write(dryRun(values.stack, plan, prometheus));
        return 0;
    }
    const stack = await LocalWorkspace.selectStack({ stackName: values.stack, workDir: ROOT });
    const result = await promote(plan, {
        stack: automationStack(stack),
        query: prometheusQuery(prometheus),
        sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
        log: (line) => process.stdout.write(`${line}\n`),
    });
    if (result.outcome === "rolled-back") {
        process.stderr.write(`promote: rolled back: ${result.reason}\n`);
        return 1;
    }
    return 0;
}

if (require.main === module) {
    main(process.argv.slice(2)).then(
        (code) => process.exit(code),
        (err) => {
            process.stderr.write(`promote: ${(err as Error).message}\n`);
            process.exit(1);
        },
    );
}
