/**
 * Routing, request by request, on the objects each stage registers: which versions a user's
 * request reaches, with and without the feature-flag cookie, and where each app version's calls
 * to analytics and storage go.
 */
import { strict as assert } from "assert";
import { appObjects } from "../mock/runProgram";
import { describe as show, followUserRequest } from "./support/mesh";
import { expectPaths, expectStorageClientsServed } from "./support/checks";
import { FLAG, NO_FLAG, ROUTES, V1, V2 } from "./support/expected";
import { chartGatewayPodLabels, clusterOf, runStage } from "./support/runs";

describe("routing, request by request", () => {
    for (const [stage, routes] of Object.entries(ROUTES)) {
        it(`${stage}: the brief's routes for users without and with the flag cookie`, async () => {
            const cluster = clusterOf(await runStage(stage));
            for (const cookie of NO_FLAG) expectPaths(followUserRequest(cluster, cookie), routes.withoutFlag);
            for (const cookie of FLAG) expectPaths(followUserRequest(cluster, cookie), routes.withFlag);
        });
    }

    it("canary with canaryWeight 10: 10% of unflagged users -> 2.0; flagged users -> 2.0 always", async () => {
        const cluster = clusterOf(await runStage("canary", { canaryWeight: "10" }));
        for (const cookie of NO_FLAG)
            expectPaths(followUserRequest(cluster, cookie), [
                [V1("1.1"), 90],
                [V2, 10],
            ]);
        for (const cookie of FLAG) expectPaths(followUserRequest(cluster, cookie), [[V2, 100]]);
    });

    it("canary with canaryWeight 50 and 100", async () => {
        const half = clusterOf(await runStage("canary", { canaryWeight: "50" }));
        expectPaths(followUserRequest(half), [
            [V1("1.1"), 50],
            [V2, 50],
        ]);
        const all = clusterOf(await runStage("canary", { canaryWeight: "100" }));
        for (const cookie of [...NO_FLAG, ...FLAG]) expectPaths(followUserRequest(all, cookie), [[V2, 100]]);
    });

    it("canary: the two chains never cross, whatever the weight", async () => {
        for (const weight of ["0", "10", "50", "100"]) {
            const cluster = clusterOf(await runStage("canary", { canaryWeight: weight }));
            for (const cookie of [...NO_FLAG, ...FLAG]) {
                for (const o of followUserRequest(cluster, cookie)) {
                    const versions = new Set(Object.values(o.path).map((v) => (v.startsWith("2") ? "2" : "1")));
                    assert.equal(versions.size, 1, `weight ${weight}, cookie ${cookie}: ${show([o])}`);
                }
            }
        }
    });

    it("canaryWeight has no effect outside the canary stage", async () => {
        for (const stage of ["deploy", "update", "lockdown", "finalize"]) {
            const plain = JSON.stringify(appObjects(await runStage(stage)));
            assert.equal(JSON.stringify(appObjects(await runStage(stage, { canaryWeight: "30" }))), plain, stage);
        }
    });
});

describe("a VirtualService whose rules are all for other sourceLabels does not apply (as Istio's generator builds it)", () => {
    it("canary without analytics' route for app 1.0: app 1.0's calls go to the plain Service (every analytics version), not refused", async () => {
        const cluster = clusterOf(await runStage("canary"));
        const onlyFor20 = cluster.objects.map((o) =>
            o.kind === "VirtualService" && o.metadata.name === "voting-analytics"
                ? { ...o, spec: { ...o.spec, http: o.spec.http.filter((r: any) => r.name !== "to-v1-1") } }
                : o,
        );
        const outcomes = followUserRequest({ ...cluster, objects: onlyFor20 });
        assert.deepEqual(
            outcomes.filter((o) => o.error),
            [],
            show(outcomes),
        );
        assert.deepEqual(
            [...new Set(outcomes.map((o) => o.path.analytics))].sort(),
            ["1.0", "1.1", "2.0"],
            show(outcomes),
        );
        // A rule that remains for app 1.0 but matches nothing still refuses (Envoy's 404).
        const unmatched = onlyFor20.map((o) =>
            o.kind === "VirtualService" && o.metadata.name === "voting-analytics"
                ? {
                      ...o,
                      spec: {
                          ...o.spec,
                          http: [
                              ...o.spec.http,
                              {
                                  match: [
                                      {
                                          sourceLabels: { app: "voting-app", version: "1.0" },
                                          headers: { "x-never": { exact: "1" } },
                                      },
                                  ],
                                  route: o.spec.http[0].route,
                              },
                          ],
                      },
                  }
                : o,
        );
        assert.ok(
            followUserRequest({ ...cluster, objects: unmatched }).every((o) => o.error),
            "a remaining rule that matches nothing refuses",
        );
    });
});

describe("every client of voting-storage, routed or not, reaches only the engine that serves its port", () => {
    for (const stage of Object.keys(ROUTES)) {
        it(stage, async () => {
            const connections = expectStorageClientsServed(clusterOf(await runStage(stage)), stage);
            const clients = new Set(connections.map((c) => c.client));
            const running = appObjects(await runStage(stage)).filter(
                (o) => o.kind === "Deployment" && !o.metadata.name.startsWith("voting-storage"),
            );
            assert.deepEqual(
                [...clients].sort(),
                running.map((d) => d.metadata.name).sort(),
                "every app and analytics Deployment is a client",
            );
        });
    }

    it("canary at every weight: analytics 1.0, which no route uses, still reaches Redis only", async () => {
        for (const weight of ["0", "30", "100"]) {
            const connections = expectStorageClientsServed(
                clusterOf(await runStage("canary", { canaryWeight: weight })),
                `canary ${weight}`,
            );
            assert.deepEqual(
                connections.filter((c) => c.client === "voting-analytics-1-0").map((c) => [c.version, c.share]),
                [["1.0", 1]],
            );
        }
    });

    it("the check does fail where Kubernetes would mix the engines (numeric target ports, as before)", async () => {
        const cluster = clusterOf(await runStage("canary"));
        const numeric = cluster.objects.map((o) =>
            o.kind === "Service" && o.metadata.name === "voting-storage"
                ? { ...o, spec: { ...o.spec, ports: o.spec.ports.map((p: any) => ({ ...p, targetPort: p.port })) } }
                : o,
        );
        assert.throws(
            () => expectStorageClientsServed({ ...cluster, objects: numeric }, "numeric target ports"),
            /voting-analytics-1-0 -> redis:6379: 50% voting-analytics-1-0 speaks redis but reached voting-storage-2-0 \(mysql\)/,
        );
    });
});

describe("the Gateway selects the pods of the gateway release", () => {
    it("default release name: istio-ingressgateway -> istio=ingressgateway", async () => {
        const r = await runStage("deploy");
        const gateway = appObjects(r).find((o) => o.kind === "Gateway")!;
        const release = r.resources.find(
            (x) => x.type === "kubernetes:helm.sh/v3:Release" && x.inputs.chart === "gateway",
        )!;
        const podLabels = chartGatewayPodLabels(release.inputs.name);
        for (const [k, v] of Object.entries(gateway.spec.selector as Record<string, string>))
            assert.equal(podLabels[k], v, `selector ${k}=${v} vs pods ${JSON.stringify(podLabels)}`);
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
