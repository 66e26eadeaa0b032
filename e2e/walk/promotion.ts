/**
 * `npm run promote` inside the walk: the promotion loop (cmd/promote.ts) drives the walk's stack
 * with the real engine, on the metrics of a real Prometheus (Debian's) scraping Istio-shaped series
 * of the canary, for a healthy, an erroring, a slow and a silent canary.
 */
import { strict as assert } from "assert";
import { labelsOf, log, objectsInNamespace } from "../harness";
import { CanaryExporter, CanaryScenario, LoopbackPrometheus } from "../prometheus";
import { automationStack, prometheusQuery, promote } from "../../cmd/promote";
import { FLAGGER_GATES } from "../../stages/promotion";
import { PROJECT } from "../../stages/names";
import { WalkContext } from "./context";

/**
 * npm run promote's promotion with the real engine and a real Prometheus (Debian's) that
 * scrapes Istio-shaped series of the canary; the cluster is checked after each up. Each case
 * starts at canary (weight 0) and leaves the stack there for the walk to go on. Run in
 * Istio's API only: promotion drives stage and canaryWeight, which the weighted canary checks
 * in both APIs.
 */
export function promotions(walk: WalkContext, step: string) {
    const expectedEnd = { healthy: "finalize", erroring: "lockdown", slow: "lockdown", silent: "lockdown" };
    const why = {
        healthy: undefined,
        erroring: /success rate (8[5-9]|9[0-4])\.\d % is below 99 %/,
        slow: /p99 latency (9[5-9]\d) ms is above 500 ms/,
        silent: /success rate: no data; p99 latency: no data/,
    };
    for (const scenario of ["erroring", "slow", "silent", "healthy"] as CanaryScenario[]) {
        it(`${step}: npm run promote with ${scenario === "erroring" ? "an" : "a"} ${scenario} canary ends at ${expectedEnd[scenario]}, the cluster checked at each up`, async () => {
            if (!walk.canaryMetrics) {
                const exporter = new CanaryExporter();
                const prometheus = await LoopbackPrometheus.start(await exporter.start());
                walk.canaryMetrics = { exporter, prometheus };
            }
            walk.canaryMetrics.exporter.scenario = scenario;
            const lines: string[] = [];
            const ups: string[] = [];
            const t = Date.now();
            const result = await promote(
                { steps: [50, 100], intervalMs: 4000, threshold: 2, gates: FLAGGER_GATES, window: "4s" },
                {
                    stack: automationStack(walk.stack!.stack, (line) => log(line)),
                    query: prometheusQuery(walk.canaryMetrics.prometheus.url),
                    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
                    log: (line) => {
                        lines.push(line);
                        // Promotion's progress lines, as a user sees them, in the walk's output.
                        process.stderr.write(`e2e: ${line}\n`);
                    },
                    afterUp: async (at, weight) => {
                        ups.push(`${at}@${weight}`);
                        const objects = await walk.checks.liveObjects();
                        assert.deepEqual(
                            labelsOf(objects),
                            objectsInNamespace(at, walk.api),
                            `${scenario}, after the up to ${at}@${weight}`,
                        );
                        walk.checks.checkRouting(objects, at, weight, `${scenario}, after the up to ${at}`);
                    },
                },
            );
            walk.timings.push(`promote, ${scenario} canary ${Date.now() - t} ms`);
            if (scenario === "healthy") {
                // Control for the gates: only the healthy canary may reach finalize.
                assert.deepEqual(result.outcome, "finalized", lines.join("\n"));
                assert.deepEqual(ups, ["canary@50", "canary@100", "finalize@0"]);
            } else {
                assert.equal(result.outcome, "rolled-back", lines.join("\n"));
                assert.match(result.reason ?? "", why[scenario]!);
                assert.deepEqual(ups, ["canary@50", "canary@0", "lockdown@0"]);
            }
            const outputs = await walk.stack!.stack.outputs();
            assert.equal(outputs.stage.value, expectedEnd[scenario]);
            // Back to canary at weight 0, where the walk goes on from.
            await walk.stack!.stack.setConfig(`${PROJECT}:stage`, { value: "canary" });
            await walk.stack!.stack.setConfig(`${PROJECT}:canaryWeight`, { value: "0" });
            const back = await walk.stack!.up((line) => log(line));
            assert.equal(back.stage.value, "canary");
        });
    }
}
