/**
 * Routing, request by request, on the objects each stage registers: which versions a user's
 * request reaches, with and without the feature-flag cookie, and where each app version's calls
 * to analytics and storage go.
 */
import { strict as assert } from "assert";
import { appObjects } from "../mock/runProgram";
import { describe as show, followUserRequest, Outcome } from "./support/mesh";
import { chartGatewayPodLabels, clusterOf, runStage } from "./support/runs";

type Chain = { app: string; analytics: string; appStorage: string; analyticsStorage: string };
const chain = (app: string, analytics: string, storage: string): Chain => ({ app, analytics, appStorage: storage, analyticsStorage: storage });
const V1 = (analytics: string) => chain("1.0", analytics, "1.0");
const V2 = chain("2.0", "2.0", "2.0");

/** Expected outcomes: chains with shares (percent). No outcome may be refused. */
function expectPaths(outcomes: Outcome[], expected: [Chain, number][]) {
    const refused = outcomes.filter((o) => o.error);
    assert.deepEqual(refused, [], `refused: ${show(outcomes)}`);
    const actual = outcomes.map((o) => [o.path, Math.round(o.share * 1000) / 10]);
    const wanted = expected.map(([c, share]) => [c, share]);
    const key = (x: unknown) => JSON.stringify(x);
    assert.deepEqual(actual.map(key).sort(), wanted.map(key).sort(), show(outcomes));
}

const NO_FLAG = [undefined, "", "session=abc", "featureflag=off", "nofeatureflag=on", "featureflag=onx", "x=1; featureflag=of"];
const FLAG = ["featureflag=on", "session=abc; featureflag=on", "featureflag=on; theme=dark", "a=1; featureflag=on; b=2", "a=1;featureflag=on"];

describe("routing, request by request", () => {
    it("deploy: everyone -> app 1.0 -> analytics 1.0 -> Redis", async () => {
        const cluster = clusterOf(await runStage("deploy"));
        for (const cookie of [...NO_FLAG, ...FLAG]) expectPaths(followUserRequest(cluster, cookie), [[V1("1.0"), 100]]);
    });

    it("update: app 1.0 reaches analytics 1.0 and 1.1 in turn (Service round robin)", async () => {
        const cluster = clusterOf(await runStage("update"));
        for (const cookie of [...NO_FLAG, ...FLAG]) expectPaths(followUserRequest(cluster, cookie), [[V1("1.0"), 50], [V1("1.1"), 50]]);
    });

    it("lockdown: app 1.0 -> analytics 1.1 only; both -> storage 1.0", async () => {
        const cluster = clusterOf(await runStage("lockdown"));
        for (const cookie of [...NO_FLAG, ...FLAG]) expectPaths(followUserRequest(cluster, cookie), [[V1("1.1"), 100]]);
    });

    it("canary: the flag cookie, alone or among others, -> the 2.0 chain; everyone else -> the 1.x chain", async () => {
        const cluster = clusterOf(await runStage("canary"));
        for (const cookie of NO_FLAG) expectPaths(followUserRequest(cluster, cookie), [[V1("1.1"), 100]]);
        for (const cookie of FLAG) expectPaths(followUserRequest(cluster, cookie), [[V2, 100]]);
    });

    it("canary with canaryWeight 10: 10% of unflagged users -> 2.0; flagged users -> 2.0 always", async () => {
        const cluster = clusterOf(await runStage("canary", { canaryWeight: "10" }));
        for (const cookie of NO_FLAG) expectPaths(followUserRequest(cluster, cookie), [[V1("1.1"), 90], [V2, 10]]);
        for (const cookie of FLAG) expectPaths(followUserRequest(cluster, cookie), [[V2, 100]]);
    });

    it("canary with canaryWeight 50 and 100", async () => {
        const half = clusterOf(await runStage("canary", { canaryWeight: "50" }));
        expectPaths(followUserRequest(half), [[V1("1.1"), 50], [V2, 50]]);
        const all = clusterOf(await runStage("canary", { canaryWeight: "100" }));
        for (const cookie of [...NO_FLAG, ...FLAG]) expectPaths(followUserRequest(all, cookie), [[V2, 100]]);
    });

    it("canary: the two chains never cross, whatever the weight", async () => {
        for (const weight of ["0", "10", "50", "100"]) {
            const cluster = clusterOf(await runStage("canary", { canaryWeight: weight }));
            for (const cookie of [...NO_FLAG, ...FLAG]) {
                for (const o of followUserRequest(cluster, cookie)) {
                    const versions = new Set(Object.values(o.path).map((v) => v.startsWith("2") ? "2" : "1"));
                    assert.equal(versions.size, 1, `weight ${weight}, cookie ${cookie}: ${show([o])}`);
                }
            }
        }
    });

    it("finalize: everyone -> the 2.0 chain", async () => {
        const cluster = clusterOf(await runStage("finalize"));
        for (const cookie of [...NO_FLAG, ...FLAG]) expectPaths(followUserRequest(cluster, cookie), [[V2, 100]]);
    });

    it("canaryWeight has no effect outside the canary stage", async () => {
        for (const stage of ["deploy", "update", "lockdown", "finalize"]) {
            const plain = JSON.stringify(appObjects(await runStage(stage)));
            assert.equal(JSON.stringify(appObjects(await runStage(stage, { canaryWeight: "30" }))), plain, stage);
        }
    });
});

describe("the Gateway selects the pods of the gateway release", () => {
    it("default release name: istio-ingressgateway -> istio=ingressgateway", async () => {
        const r = await runStage("deploy");
        const gateway = appObjects(r).find((o) => o.kind === "Gateway")!;
        const release = r.resources.find((x) => x.type === "kubernetes:helm.sh/v3:Release" && x.inputs.chart === "gateway")!;
        const podLabels = chartGatewayPodLabels(release.inputs.name);
        for (const [k, v] of Object.entries(gateway.spec.selector as Record<string, string>)) assert.equal(podLabels[k], v, `selector ${k}=${v} vs pods ${JSON.stringify(podLabels)}`);
        assert.deepEqual(gateway.spec.selector, { istio: "ingressgateway" });
    });

    it("another release name moves the selector with it, and users still get through", async () => {
        const r = await runStage("canary", { "istio.gatewayName": "voting-ingress" });
        assert.deepEqual(appObjects(r).find((o) => o.kind === "Gateway")!.spec.selector, { istio: "voting-ingress" });
        expectPaths(followUserRequest(clusterOf(r, "voting-ingress"), "featureflag=on"), [[V2, 100]]);
    });

    it("a Gateway that selects no gateway pod refuses every request (the evaluator can fail)", async () => {
        const cluster = clusterOf(await runStage("deploy"), "some-other-gateway");
        const outcomes = followUserRequest(cluster);
        assert.equal(outcomes.length, 1);
        assert.match(outcomes[0].error ?? "", /Gateway that selects the ingress gateway pods/);
    });
});
