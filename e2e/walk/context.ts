/**
 * The walk's one stack and what runs beside it, shared by the walk's concerns (e2e/walk/*.ts): each
 * concern registers its tests with a `WalkContext`, whose fields the walk's before hook fills and
 * its tests read when they run. `walkLifecycle` is that hook and its after hook: the cluster
 * prepared (e2e/harness.ts), the stack created and configured in Istio's API, then disposed with
 * istiod, the stand-ins and the promotion's Prometheus.
 */
import { AppChecks, appChecks } from "../appChecks";
import { ClusterEnvironment, log, prepareCluster, SECRETS } from "../harness";
import { EphemeralStack } from "../ephemeralStack";
import { LoopbackIstiod } from "../istiod";
import { KubeClient } from "../kube";
import { CanaryExporter, LoopbackPrometheus } from "../prometheus";
import type { TrafficApi } from "../../stages/traffic/router";

export interface WalkContext {
    /** The harness's one Kubernetes client, made in the suite's first before hook. */
    kube: KubeClient;
    /** What took how long, printed at the end of the suite. */
    timings: string[];
    stack?: EphemeralStack;
    settings: Record<string, string>;
    istiod?: LoopbackIstiod;
    env?: ClusterEnvironment;
    checks: AppChecks;
    /** The canary's metrics for `npm run promote`, started by the first promotion. */
    canaryMetrics?: { exporter: CanaryExporter; prometheus: LoopbackPrometheus };
    /** The stack's traffic API (traffic.api) as of the last up. */
    api: TrafficApi;
}

/** A context whose fields the hooks fill in; the walk starts in Istio's API. */
export function newWalkContext(): WalkContext {
    return { timings: [], settings: {}, api: "istio" } as Partial<WalkContext> as WalkContext;
}

/** The walk's before and after hooks: one stack for every concern's tests, disposed at the end. */
export function walkLifecycle(walk: WalkContext) {
    before(async function () {
        walk.env = await prepareCluster(walk.kube, walk.timings);
        ({ settings: walk.settings, istiod: walk.istiod } = walk.env);
        walk.checks = appChecks(walk.kube, { settings: walk.settings, api: () => walk.api, istiod: walk.istiod });
        // The walk starts in Istio's API and switches on its own (traffic.api).
        walk.settings["traffic.api"] = walk.api;
        walk.stack = await EphemeralStack.create({
            program: process.env.E2E_PROGRAM === "inline" ? "inline" : "local",
        });
        // Passwords as secret config: the walk needs no random provider plugin.
        await walk.stack.configure(walk.settings, SECRETS);
    });

    after(async function () {
        this.timeout(10 * 60 * 1000);
        const t = Date.now();
        if (walk.stack) await walk.stack.dispose((line) => log(line));
        walk.timings.push(`clean-up (unprotect, destroy, stack rm) ${Date.now() - t} ms`);
        await walk.env?.stop();
        await walk.canaryMetrics?.prometheus.stop();
        await walk.canaryMetrics?.exporter.stop();
    });
}
