/**
 * The walk's control cases: objects the program must never get through (`pulumi up` of a stack of
 * their own fails with the refusal of the API server or of istiod's webhook), and objects Istio's
 * gateway controller and live analyzers must report, so that their silence on the walk's own
 * objects means something.
 */
import { strict as assert } from "assert";
import { analyzeLive, atLeastWarning, showMessages } from "../../test/support/istioctl";
import { until } from "../clusterSetup";
import { EphemeralStack } from "../ephemeralStack";
import { GATEWAY_API_GROUP, kubeconfig, log, target, withoutIstio } from "../harness";
import { KubeObject } from "../kube";
import { APP_NAMESPACE, serviceHost } from "../../stages/names";
import { WalkContext } from "./context";
import { ISTIO_GATEWAY_CONTROLLER } from "./gatewayApiStatus";

/**
 * A control case: `pulumi up` of a stack of its own that applies only `object` must fail with
 * `refusal`, and the object must not be in the cluster afterwards.
 */
async function expectUpRefused({ kube }: WalkContext, object: KubeObject, refusal: RegExp) {
    const k8s = await import("@pulumi/kubernetes");
    const invalid = await EphemeralStack.create({
        program: "inline",
        inlineProgram: async () => {
            const provider = new k8s.Provider("e2e", { kubeconfig });
            new k8s.apiextensions.CustomResource(object.metadata.name, object, { provider });
        },
    });
    try {
        let error: Error | undefined;
        await invalid.up().catch((err: Error) => (error = err));
        assert.ok(error, `the up went through with an invalid ${object.kind}`);
        assert.match(error.message, refusal);
        assert.equal(await kube.get(object.kind, object.metadata.namespace, object.metadata.name), undefined);
    } finally {
        await invalid.dispose((line) => log(line));
    }
}

/** Gateway API's control cases, while its objects are in the cluster. */
export function gatewayApiControls(walk: WalkContext) {
    it("a Gateway API object the API server refuses (a CEL rule of its CRD: a Service backendRef without a port) fails `pulumi up`", async function () {
        // Valid for the CRD's OpenAPI schema; its CEL rule "Must have port for Service reference" refuses it.
        await expectUpRefused(
            walk,
            {
                apiVersion: `${GATEWAY_API_GROUP}/v1`,
                kind: "HTTPRoute",
                metadata: { name: "e2e-invalid-httproute", namespace: APP_NAMESPACE },
                spec: {
                    parentRefs: [{ group: "", kind: "Service", name: "e2e-no-such-parent", port: 8080 }],
                    rules: [{ backendRefs: [{ name: "e2e-no-such-backend" }] }],
                },
            },
            /Must have port for Service reference/,
        );
    });

    if (target === "apiserver") {
        it("control: istiod's gateway controller and the live analyzers do report an HTTPRoute to a Service that does not exist (ResolvedRefs False, IST0171)", async function () {
            withoutIstio(this, "the Gateway API status control case");
            // Attached where the program's ingress route is, for a hostname no user asks for.
            const ingress = await walk.kube.get("HTTPRoute", APP_NAMESPACE, "voting-app");
            assert.ok(ingress, "the program's ingress HTTPRoute");
            const control: KubeObject = {
                apiVersion: `${GATEWAY_API_GROUP}/v1`,
                kind: "HTTPRoute",
                metadata: { name: "e2e-status-control", namespace: APP_NAMESPACE },
                spec: {
                    parentRefs: ingress.spec.parentRefs,
                    hostnames: ["control.e2e.invalid"],
                    rules: [{ backendRefs: [{ name: "e2e-no-such-service", port: 8080 }] }],
                },
            };
            await walk.kube.ensure(control);
            try {
                let reported: string[] = [];
                await until("istiod's status on the control HTTPRoute", 60, async () => {
                    const live = await walk.kube.get("HTTPRoute", APP_NAMESPACE, control.metadata.name);
                    reported = (live?.status?.parents ?? []).flatMap((p: any) =>
                        (p.conditions ?? [])
                            .filter((c: any) => c.type === "ResolvedRefs" && c.status === "False")
                            .map((c: any) => `${p.controllerName} ${c.reason}: ${c.message}`),
                    );
                    return reported.length ? true : undefined;
                });
                assert.match(reported.join("\n"), new RegExp(`^${ISTIO_GATEWAY_CONTROLLER} BackendNotFound`, "m"));
                const messages = await analyzeLive(kubeconfig, APP_NAMESPACE);
                assert.ok(
                    atLeastWarning(messages).some(
                        (m) => m.code === "IST0171" && /e2e-status-control/.test(`${m.origin} ${m.message}`),
                    ),
                    `expected IST0171 for the control HTTPRoute, got:\n${showMessages(messages)}`,
                );
            } finally {
                await walk.kube.remove("HTTPRoute", APP_NAMESPACE, control.metadata.name);
            }
        });
    }
}

/** Istio's control cases (istiod and its analyzers are in the loop with the apiserver target only). */
export function istioControls(walk: WalkContext) {
    if (target === "apiserver") {
        it("an Istio object istiod rejects fails `pulumi up` (validation.istio.io), as on AKS", async function () {
            withoutIstio(this, "the validation control case");
            // Valid for the CRD's schema; istiod refuses the regex (RE2 cannot compile it).
            await expectUpRefused(
                walk,
                {
                    apiVersion: "networking.istio.io/v1",
                    kind: "VirtualService",
                    metadata: { name: "e2e-invalid-route", namespace: APP_NAMESPACE },
                    spec: {
                        hosts: [serviceHost("voting-app")],
                        http: [
                            {
                                match: [{ headers: { cookie: { regex: "^(.*?;)?(featureflag=on(;.*)?$" } } }],
                                route: [{ destination: { host: serviceHost("voting-app") } }],
                            },
                        ],
                    },
                },
                /admission webhook "validation\.istio\.io" denied the request/,
            );
        });

        it("control: the live analyzers do report a route to a subset nothing defines (IST0101)", async function () {
            withoutIstio(this, "the analyzers' control case");
            const control = {
                apiVersion: "networking.istio.io/v1",
                kind: "VirtualService",
                metadata: { name: "e2e-analyzer-control", namespace: APP_NAMESPACE },
                spec: {
                    hosts: [serviceHost("voting-analytics")],
                    http: [
                        {
                            route: [
                                {
                                    destination: {
                                        host: serviceHost("voting-analytics"),
                                        subset: "no-such-subset",
                                    },
                                },
                            ],
                        },
                    ],
                },
            };
            await walk.kube.ensure(control);
            try {
                const messages = await analyzeLive(kubeconfig, APP_NAMESPACE);
                assert.ok(
                    atLeastWarning(messages).some((m) => m.code === "IST0101" && /no-such-subset/.test(m.message)),
                    `expected IST0101 for the undefined subset, got:\n${showMessages(messages)}`,
                );
            } finally {
                await walk.kube.remove("VirtualService", APP_NAMESPACE, control.metadata.name);
            }
        });
    }
}
