/**
 * The walk's steps: a stage change (`stageStep`), a weighted canary's ups (`weightedCanary`) and a
 * switch of traffic.api on the live stack (`switchApi`), each a preview checked against the stage
 * table, then an up and what the cluster holds after it, then Istio's control plane; with the
 * cluster target, also what users see through the ingress.
 */
import { strict as assert } from "assert";
import { OutputMap } from "@pulumi/pulumi/automation";
import { inTrafficApi } from "../../test/support/expected";
import { analyzeLive, atLeastWarning, showMessages } from "../../test/support/istioctl";
import { PlannedStep } from "../engineSteps";
import {
    CHANNEL_LABELS,
    expectedChanges,
    installsGatewayApiCrds,
    kubeconfig,
    log,
    objectsInNamespace,
    target,
    withoutIstio,
} from "../harness";
import { checkPlaintextRefused, checkStageThroughIngress } from "../live";
import { StageName, STRICT_MTLS_STAGES } from "../../stages/model";
import { APP_NAMESPACE, PROJECT } from "../../stages/names";
import type { TrafficApi } from "../../stages/traffic/router";
import { WalkContext } from "./context";
import { checkControlPlane } from "./controlPlane";
import { checkGatewayApiStatus } from "./gatewayApiStatus";
import { checkVoteCarry } from "./voteCarry";

/** A switch of traffic.api at one stage: the new API's objects created, the old one's deleted, nothing updated. */
function expectedSwitch(stage: string, from: TrafficApi, to: TrafficApi) {
    const before = objectsInNamespace(stage, from);
    const after = objectsInNamespace(stage, to);
    return {
        create: after.filter((l) => !before.includes(l)),
        update: [] as string[],
        delete: before.filter((l) => !after.includes(l)),
    };
}

/** The live checks through the ingress (cluster target): what users see at this stage. */
function throughTheIngress(walk: WalkContext, step: string, stage: StageName) {
    if (target !== "cluster") return;
    it(`${step}: through the ingress, users see what the stage promises`, async () => {
        // A LoadBalancer's address from the stack; with a NodePort or ClusterIP gateway
        // (plain kind) the URL the user maps to it (extraPortMappings, port-forward).
        const url = process.env.E2E_INGRESS_URL || (await walk.stack!.stack.outputs()).ingressUrl?.value;
        assert.ok(url, "no ingress URL: the gateway Service has no load-balancer address; set E2E_INGRESS_URL");
        await checkStageThroughIngress(stage, url);
        if (STRICT_MTLS_STAGES.includes(stage)) await checkPlaintextRefused(walk.kube);
    });
}

/**
 * The walk's stack's `up`, timed, and how many objects istiod validated during it (undefined when
 * istiod was not running before it: the first up starts it).
 */
async function upCountingValidations(
    walk: WalkContext,
    what: string,
): Promise<{ outputs: OutputMap; validatedDuringUp?: number }> {
    const validatedBefore = walk.istiod?.running ? await walk.istiod.counter("galley_validation_passed") : undefined;
    const t = Date.now();
    const outputs = await walk.stack!.up((line) => log(line));
    walk.timings.push(`up ${what} ${Date.now() - t} ms`);
    if (!walk.istiod || validatedBefore === undefined) return { outputs };
    return { outputs, validatedDuringUp: (await walk.istiod.counter("galley_validation_passed")) - validatedBefore };
}

/** One transition of the stage walk in the stack's traffic API: preview, up, Istio's control plane. */
export function stageStep(walk: WalkContext, step: string, from: StageName | undefined, stage: StageName) {
    let planned: PlannedStep[] = [];
    /** How many objects istiod validated during this step's up (unknown on the first up: istiod starts in it). */
    let validatedDuringUp: number | undefined;

    it(`${step}: the engine's preview plans exactly the stage table's changes, and no create of an object that exists`, async () => {
        await walk.stack!.stack.setConfig(`${PROJECT}:stage`, { value: stage });
        const t = Date.now();
        planned = await walk.stack!.preview();
        walk.timings.push(`preview ${step} ${Date.now() - t} ms`);
        await walk.checks.checkPlanSafe(planned);
        const changes = walk.checks.appChanges(planned);
        if (!from) {
            assert.deepEqual(changes.create, objectsInNamespace(stage, walk.api));
            return;
        }
        assert.deepEqual(changes, expectedChanges(from, stage, walk.api));
        assert.deepEqual(
            walk.checks.outsideTheApp(planned).map((s) => `${s.op} ${s.label}`),
            [],
            "a stage change touches nothing outside the app namespace (cluster, Istio, Gateway API's CRDs, the namespace itself)",
        );
    });

    it(`${step}: pulumi up, then the cluster holds the stage's objects, the same volumes, and routes`, async () => {
        let outputs: OutputMap;
        ({ outputs, validatedDuringUp } = await upCountingValidations(walk, step));
        await walk.checks.checkAfterUp(step, stage, 0, outputs);
        await checkVoteCarry(walk.kube, step, from, stage, walk.stack!.lastUp);
    });

    if (target === "apiserver") {
        it(`${step}: Istio's control plane: istiod validated what the up applied, injected every pod and accepted every Gateway API object; the stored objects pass validation; istioctl analyze is clean`, async function () {
            withoutIstio(this, `${step}, Istio's checks`);
            await checkControlPlane(walk, step, planned, validatedDuringUp);
        });
    }
    throughTheIngress(walk, step, stage);
}

/**
 * The weighted canary, raised and lowered: each up moves only the ingress route (Istio's
 * VirtualService or Gateway API's HTTPRoute), and users stay where the weight sent them.
 */
export function weightedCanary(walk: WalkContext, step: string, weights: number[]) {
    it(`${step}: a weighted canary (canaryWeight ${weights.join(", ")}): each up moves only the ingress route, and users stay where the weight sent them`, async () => {
        for (const weight of weights) {
            await walk.stack!.stack.setConfig(`${PROJECT}:canaryWeight`, { value: String(weight) });
            const preview = await walk.stack!.preview();
            assert.deepEqual(
                preview
                    .filter((s) => !["same", "read"].includes(s.op) && !/^pulumi:pulumi:Stack$/.test(s.type))
                    .map((s) => `${s.op} ${s.label}`),
                inTrafficApi(walk.api, ["VirtualService/voting-app"]).map((l) => `update ${l}`),
                `canaryWeight ${weight}`,
            );
            const t = Date.now();
            const outputs = await walk.stack!.up((line) => log(line));
            walk.timings.push(`up ${walk.api} canaryWeight ${weight} ${Date.now() - t} ms`);
            assert.equal(outputs.canaryWeight.value, weight);
            walk.checks.checkRouting(await walk.checks.liveObjects(), "canary", weight, `${walk.api}, canary`);
            if (walk.istiod) {
                // The up went through istiod's validation and its gateway controller; its analyzers on the sticky routes too.
                if (walk.api === "gateway-api") await checkGatewayApiStatus(walk, `${walk.api} canaryWeight ${weight}`);
                const messages = await analyzeLive(kubeconfig, APP_NAMESPACE);
                assert.deepEqual(
                    atLeastWarning(messages),
                    [],
                    `istioctl analyze at canaryWeight ${weight}:\n${showMessages(messages)}`,
                );
            }
        }
    });
}

/**
 * A switch of traffic.api on the live stack at `stage` (the canary at `weight`): the preview
 * plans exactly the new API's objects created and the old one's deleted (nothing updated, no
 * Deployment touched, nothing replaced, no create of an object that exists; outside the app
 * only Gateway API's standard channel, created on the way to it and only forgotten on the way
 * back); after the up the cluster holds exactly the new API's objects, the same pods and
 * volumes, Gateway API's CRDs still there, and every request routed.
 */
export function switchApi(walk: WalkContext, step: string, stage: StageName, to: TrafficApi, weight: number) {
    let planned: PlannedStep[] = [];
    let validatedDuringUp: number | undefined;
    const name = `${step}: switching traffic.api to ${to}`;

    it(`${name}: the preview plans exactly ${to}'s objects created and the other API's deleted, nothing updated or replaced (the app's pods untouched), and no create of an object that exists`, async () => {
        const from = walk.api;
        assert.notEqual(from, to);
        await walk.stack!.stack.setConfig(`${PROJECT}:traffic.api`, { value: to }, true);
        walk.settings["traffic.api"] = to;
        const t = Date.now();
        planned = await walk.stack!.preview();
        walk.timings.push(`preview ${name} ${Date.now() - t} ms`);
        await walk.checks.checkPlanSafe(planned);
        assert.deepEqual(
            walk.checks.appChanges(planned),
            expectedSwitch(stage, from, to),
            `${from} -> ${to} at ${stage}`,
        );
        const outside = walk.checks.outsideTheApp(planned).filter((s) => s.custom);
        assert.deepEqual(
            outside.map((s) => `${s.op} ${s.label}`).sort(),
            installsGatewayApiCrds
                ? CHANNEL_LABELS.map((l) => `${to === "gateway-api" ? "create" : "delete"} ${l}`)
                : [],
            "outside the app: Gateway API's standard channel, and nothing else",
        );
        // Deleting a CRD deletes every object of its kind in the cluster, other owners' too.
        for (const s of outside.filter((x) => x.op === "delete"))
            assert.ok(s.retainOnDelete, `${s.label} would be deleted from the cluster, not only forgotten`);
    });

    it(`${name}: pulumi up, then the cluster holds exactly ${to}'s objects, the same pods and volumes, Gateway API's CRDs, and routes`, async () => {
        const pods = await walk.checks.podUids();
        let outputs: OutputMap;
        ({ outputs, validatedDuringUp } = await upCountingValidations(walk, name));
        walk.api = to;
        assert.equal(outputs.canaryWeight.value, weight);
        await walk.checks.checkAfterUp(name, stage, weight, outputs);
        assert.deepEqual(await walk.checks.podUids(), pods, "switching API restarted or replaced the app's pods");
    });

    if (target === "apiserver") {
        it(`${name}: Istio's control plane: istiod validated what the up applied, injected every pod and accepted every Gateway API object; the stored objects pass validation; istioctl analyze is clean`, async function () {
            withoutIstio(this, `${name}, Istio's checks`);
            await checkControlPlane(walk, name, planned, validatedDuringUp);
        });
    }
    throughTheIngress(walk, name, stage);
}
