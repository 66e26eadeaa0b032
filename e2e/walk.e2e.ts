/**
 * The real Pulumi engine runs the real program against a real Kubernetes API server.
 *
 * First, on a cluster where nothing is installed, the preview a new user's first `pulumi up` makes
 * (istio.install=true, Istio's charts from a Helm repository on loopback), in either traffic API.
 * Then one ephemeral stack walks every adjacent transition in both directions in Istio's API
 * (traffic.api=istio),
 *   deploy -> update -> lockdown -> canary -> finalize -> canary -> lockdown -> canary -> lockdown
 *   -> update -> deploy,
 * and at its first lockdown switches to Kubernetes Gateway API on the live stack, walks every
 * adjacent transition in both directions there (traffic.api=gateway-api),
 *   lockdown -> canary -> finalize -> canary -> lockdown -> update -> deploy -> update -> lockdown,
 * and switches back; at its first canary, weighted 30, it switches to Gateway API and back again.
 * Before each `up` it checks what the engine's preview plans (exactly the stage table's changes in
 * that API, or for a switch exactly the other API's objects created and this one's deleted; and
 * that no planned create names an object the cluster already holds: from Kubernetes provider 4.29
 * on, such a create fails), and after it what the cluster holds (objects present and absent, the
 * votes' volumes with the same UIDs all along, Gateway API's CRDs kept once installed, the storage
 * Service's endpoints per engine, routing evaluated request by request, and `render`'s YAML as the
 * API server itself decodes it). Last, `pulumi destroy` as users run it: refused for the votes while
 * they are protected, complete once they are not.
 *
 * With the apiserver target the program installs Istio itself from its charts, and a real istiod
 * on loopback validates every Istio object and injects every pod (e2e/istiod.ts); after each `up`,
 * `istioctl analyze` on the live namespace must be clean. Istio's charts send istiod's validation
 * webhook Istio's own groups only: Gateway API's objects are validated by the API server (their
 * CRDs' schemas and CEL rules), and istiod's gateway controller judges them in their status
 * (Accepted, Programmed, ResolvedRefs), which the walk reads after each `up` in Gateway API.
 *
 * This file says the walk's order; each concern is a module of e2e/walk/ over one shared stack
 * (context.ts): the steps (stageSteps.ts), Istio's control plane after each (controlPlane.ts,
 * gatewayApiStatus.ts), the vote carry (voteCarry.ts), the promotion (promotion.ts), the control
 * cases (controls.ts), the destroy (destroy.ts), and the first preview on an empty cluster
 * (firstPreview.ts). scripts/remove-stack.sh's own suite is e2e/removeStack.e2e.ts.
 *
 * Environment: KUBECONFIG (required); E2E_TARGET=apiserver (default: bare API server with kwok's
 * simulated pods, Istio installed by the program, no images pulled) or cluster (kind/AKS with nothing installed: the
 * program installs Istio; live checks through the ingress too); E2E_PROGRAM=local|inline;
 * E2E_CONFIG (JSON, extra stack settings); E2E_EXPECT_READY=1 when pods become ready;
 * E2E_INGRESS_URL (cluster target, gateway without a load-balancer address: where it is reachable);
 * E2E_STACK (the stack's name, e.g. a pull request's on a shared backend; default: a unique name).
 */
import { strict as assert } from "assert";
import { kubeconfig, target } from "./harness";
import { KubeClient } from "./kube";
import { newWalkContext, walkLifecycle } from "./walk/context";
import { gatewayApiControls, istioControls } from "./walk/controls";
import { destroyTests } from "./walk/destroy";
import { firstPreviewTests } from "./walk/firstPreview";
import { promotions } from "./walk/promotion";
import { stageStep, switchApi, weightedCanary } from "./walk/stageSteps";

/**
 * Every adjacent transition, forward and back, and canary -> lockdown -> canary (the rollback that
 * brings MySQL's claim back) twice over: Istio's API.
 */
export const WALK = [
    "deploy",
    "update",
    "lockdown",
    "canary",
    "finalize",
    "canary",
    "lockdown",
    "canary",
    "lockdown",
    "update",
    "deploy",
] as const;

/**
 * Gateway API's walk, from lockdown (where the stack switches to it, and back after it): every
 * adjacent transition once each way. The second canary <-> lockdown round of WALK is about MySQL's
 * claim, which does not depend on the traffic API.
 */
export const GATEWAY_API_WALK = [
    "lockdown",
    "canary",
    "finalize",
    "canary",
    "lockdown",
    "update",
    "deploy",
    "update",
    "lockdown",
] as const;

/** Where the walk switches API on the live stack and back: at lockdown, and at the canary weighted 30. */
const SWITCH_WEIGHT = 30;

describe(`end to end (${target}): the real engine, the real program, a real API server`, function () {
    this.timeout(20 * 60 * 1000);
    const walk = newWalkContext();

    before(function () {
        assert.ok(kubeconfig, "KUBECONFIG must name the target cluster's kubeconfig");
        walk.kube = KubeClient.fromKubeconfig(kubeconfig, process.env.E2E_CONTEXT);
    });

    after(function () {
        process.stderr.write(`e2e timings:\n  ${walk.timings.join("\n  ")}\n`);
    });

    if (target === "apiserver") firstPreviewTests(walk);

    describe("one stack walks every stage and back, in Istio's API and in Gateway API, and switches API on the live stack", function () {
        walkLifecycle(walk);

        // The walk in Istio's API. At its first lockdown the stack switches to Gateway API, walks
        // every transition both ways there (GATEWAY_API_WALK) and switches back; at its first canary,
        // weighted 30, it switches to Gateway API and back again.
        let n = 0;
        WALK.forEach((stage, i) => {
            const from = i === 0 ? undefined : WALK[i - 1];
            const step = `${++n}. ${from ?? "(new stack)"} -> ${stage}`;
            stageStep(walk, step, from, stage);
            if (stage === "lockdown" && WALK.indexOf("lockdown") === i) {
                switchApi(walk, `${n}a. at lockdown`, "lockdown", "gateway-api", 0);
                GATEWAY_API_WALK.forEach((gaStage, j) => {
                    if (j === 0) return;
                    const gaFrom = GATEWAY_API_WALK[j - 1];
                    const gaStep = `${n}a.${j}. ${gaFrom} -> ${gaStage} (gateway-api)`;
                    stageStep(walk, gaStep, gaFrom, gaStage);
                    // Gateway API at the canary weighted 30 is the canary switch's (below), with every check of an up.
                    if (gaStage === "canary" && GATEWAY_API_WALK.indexOf("canary") === j)
                        weightedCanary(walk, gaStep, [60, 0]);
                });
                gatewayApiControls(walk);
                switchApi(walk, `${n}b. at lockdown`, "lockdown", "istio", 0);
            }
            if (stage === "canary" && WALK.indexOf("canary") === i) {
                weightedCanary(walk, step, [SWITCH_WEIGHT]);
                switchApi(
                    walk,
                    `${n}c. at canary, canaryWeight ${SWITCH_WEIGHT}`,
                    "canary",
                    "gateway-api",
                    SWITCH_WEIGHT,
                );
                switchApi(walk, `${n}d. at canary, canaryWeight ${SWITCH_WEIGHT}`, "canary", "istio", SWITCH_WEIGHT);
                weightedCanary(walk, step, [60, 0]);
                promotions(walk, step);
            }
        });
        istioControls(walk);

        destroyTests(walk);
    });
});
