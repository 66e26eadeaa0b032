/**
 * Routing, request by request, on the objects each stage registers, in each traffic API with the
 * same expectations: which versions a user's request reaches, with and without the feature-flag
 * cookie, and where each app version's calls to analytics and storage go.
 */
import { strict as assert } from "assert";
import { appObjects, KubernetesObject } from "../mock/runProgram";
import { TRAFFIC_APIS } from "../stages/traffic/router";
import { describe as show, followUserRequest, routeReferenceProblems } from "./support/mesh";
import { expectPaths, expectStorageClientsServed } from "./support/checks";
import { FLAG, NO_FLAG, ROUTES, V1, V2 } from "./support/expected";
import { chartGatewayPodLabels, clusterOf, runStageIn } from "./support/runs";

for (const api of TRAFFIC_APIS) {
    const suffix = api === "istio" ? "" : ` (traffic.api=${api})`;
    const runStage = (stage: string, extra: Record<string, string> = {}) => runStageIn(api, stage, extra);

    describe(`routing, request by request${suffix}`, () => {
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

    describe(`every client of voting-storage, routed or not, reaches only the engine that serves its port${suffix}`, () => {
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
}

describe("a VirtualService whose rules are all for other sourceLabels does not apply (as Istio's generator builds it)", () => {
    const runStage = (stage: string, extra: Record<string, string> = {}) => runStageIn("istio", stage, extra);
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

describe("the Gateway selects the pods of the gateway release", () => {
    const runStage = (stage: string, extra: Record<string, string> = {}) => runStageIn("istio", stage, extra);
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

describe("Gateway API: the Gateway is bound by address to the gateway release's Service (Istio's manual deployment)", () => {
    const runStage = (stage: string, extra: Record<string, string> = {}) => runStageIn("gateway-api", stage, extra);
    const gatewayOf = (objects: KubernetesObject[]) =>
        objects.find((o) => o.kind === "Gateway" && o.apiVersion.startsWith("gateway.networking.k8s.io/"))!;

    it("default release name: the address is istio-ingressgateway's Service, the class Istio's, one HTTP listener on 80", async () => {
        const gateway = gatewayOf(appObjects(await runStage("deploy")));
        assert.deepEqual(gateway.spec.addresses, [
            { type: "Hostname", value: "istio-ingressgateway.istio-ingress.svc.cluster.local" },
        ]);
        assert.equal(gateway.spec.gatewayClassName, "istio");
        assert.deepEqual(
            gateway.spec.listeners.map((l: any) => [l.port, l.protocol]),
            [[80, "HTTP"]],
        );
    });

    it("another release name moves the address with it, and users still get through", async () => {
        const r = await runStage("canary", { "istio.gatewayName": "voting-ingress" });
        assert.deepEqual(gatewayOf(appObjects(r)).spec.addresses, [
            { type: "Hostname", value: "voting-ingress.istio-ingress.svc.cluster.local" },
        ]);
        expectPaths(followUserRequest(clusterOf(r, "voting-ingress"), "featureflag=on"), [[V2, 100]]);
    });

    it("a Gateway bound to another Service, or of a class Istio does not serve, refuses every request (the evaluator can fail)", async () => {
        const elsewhere = followUserRequest(clusterOf(await runStage("deploy"), "some-other-gateway"));
        assert.equal(elsewhere.length, 1);
        assert.match(elsewhere[0].error ?? "", /no HTTPRoute to a Gateway bound to the ingress gateway's Service/);
        const r = await runStage("deploy", { "traffic.gatewayClass": "another-class" });
        const otherClass = followUserRequest(clusterOf(r));
        assert.match(otherClass[0].error ?? "", /no HTTPRoute to a Gateway bound to the ingress gateway's Service/);
    });
});

describe("Gateway API's HTTPRoutes, as the model reads them", () => {
    const runStage = (stage: string, extra: Record<string, string> = {}) => runStageIn("gateway-api", stage, extra);
    const withRoute = (objects: KubernetesObject[], name: string, change: (spec: any) => any) =>
        objects.map((o) => (o.kind === "HTTPRoute" && o.metadata.name === name ? { ...o, spec: change(o.spec) } : o));

    it("precedence is Gateway API's, not rule order: a match with a header outranks the default rule placed before it", async () => {
        const cluster = clusterOf(await runStage("canary", { canaryWeight: "30" }));
        const defaultFirst = withRoute(cluster.objects, "voting-app", (spec) => ({
            ...spec,
            rules: [...spec.rules].reverse(),
        }));
        expectPaths(followUserRequest({ ...cluster, objects: defaultFirst }, "featureflag=on"), [[V2, 100]]);
        expectPaths(followUserRequest({ ...cluster, objects: defaultFirst }, "voting-canary=1.0-w30"), [
            [V1("1.1"), 100],
        ]);
        // Among matches with as many headers, rule order decides: the flag's rule after a sticky one loses to it.
        const flagLast = withRoute(cluster.objects, "voting-app", (spec) => ({
            ...spec,
            rules: [...spec.rules.filter((r: any) => r.name !== "feature-flag"), spec.rules[0]],
        }));
        expectPaths(followUserRequest({ ...cluster, objects: flagLast }, "voting-canary=1.0-w30; featureflag=on"), [
            [V1("1.1"), 100],
        ]);
    });

    it("the mesh route applies to every caller of voting-analytics: a version no rule names is refused (404), not sent to the plain Service as a VirtualService's sourceLabels would", async () => {
        const cluster = clusterOf(await runStage("canary"));
        const onlyFor20 = withRoute(cluster.objects, "voting-analytics", (spec) => ({
            ...spec,
            rules: spec.rules.filter((r: any) => r.name !== "to-v1-1"),
        }));
        const outcomes = followUserRequest({ ...cluster, objects: onlyFor20 });
        assert.ok(
            outcomes.length > 0 &&
                outcomes.every((o) => /no rule of HTTPRoute voting-analytics matches \(404\)/.test(o.error ?? "")),
            show(outcomes),
        );
        expectPaths(followUserRequest({ ...cluster, objects: onlyFor20 }, "featureflag=on"), [[V2, 100]]);
        // The header the app sends is what picks analytics: an app 1.0 that named 2.0 would cross the chains.
        const misnamed = cluster.objects.map((o) =>
            o.kind === "Deployment" && o.metadata.name === "voting-app-1-0"
                ? {
                      ...o,
                      spec: {
                          ...o.spec,
                          template: {
                              ...o.spec.template,
                              spec: {
                                  ...o.spec.template.spec,
                                  containers: [
                                      {
                                          ...o.spec.template.spec.containers[0],
                                          env: [
                                              ...o.spec.template.spec.containers[0].env,
                                              { name: "VERSION", value: "2.0" },
                                          ],
                                      },
                                  ],
                              },
                          },
                      },
                  }
                : o,
        );
        const crossed = followUserRequest({ ...cluster, objects: misnamed });
        assert.deepEqual(
            crossed.map((o) => [o.path.app, o.path.analytics]),
            [["1.0", "2.0"]],
            show(crossed),
        );
    });

    it("a backendRef to a Service or port that does not exist refuses its share (500) and is named by the reference check", async () => {
        const cluster = clusterOf(await runStage("canary", { canaryWeight: "30" }));
        const noService = cluster.objects.filter(
            (o) => !(o.kind === "Service" && o.metadata.name === "voting-app-v2-0"),
        );
        const outcomes = followUserRequest({ ...cluster, objects: noService });
        assert.deepEqual(
            outcomes.filter((o) => o.error).map((o) => [o.error, Math.round(o.share * 1000) / 10]),
            [["HTTPRoute voting-app names Service voting-app-v2-0, which does not exist", 30]],
            show(outcomes),
        );
        assert.deepEqual(routeReferenceProblems({ ...cluster, objects: noService }), [
            "HTTPRoute voting-app names Service voting-app-v2-0, which does not exist",
            "HTTPRoute voting-app names Service voting-app-v2-0, which does not exist",
            "HTTPRoute voting-app names Service voting-app-v2-0, which does not exist",
        ]);
        const wrongPort = withRoute(cluster.objects, "voting-analytics", (spec) => ({
            ...spec,
            rules: spec.rules.map((r: any) => ({
                ...r,
                backendRefs: r.backendRefs.map((b: any) => ({ ...b, port: 80 })),
            })),
        }));
        assert.match(
            routeReferenceProblems({ ...cluster, objects: wrongPort }).join("\n"),
            /HTTPRoute voting-analytics names port 80 of Service voting-analytics-v1-1, which it does not have/,
        );
        assert.ok(followUserRequest({ ...cluster, objects: wrongPort }).every((o) => o.error));
        assert.deepEqual(routeReferenceProblems(cluster), []);
    });
});
