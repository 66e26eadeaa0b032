/**
 * Istio's control plane after each of the walk's ups (Istio in the loop): istiod validated what the
 * up applied and injected every pod, the stored objects pass validation again (through istiod's
 * webhook where Istio's charts send them), Gateway API's objects are accepted by istiod's gateway
 * controller, and `istioctl analyze` on the live namespace is clean.
 */
import { strict as assert } from "assert";
import { objectLabel } from "../../mock/changes";
import { analyzeLive, atLeastWarning, showMessages } from "../../test/support/istioctl";
import { PlannedStep } from "../engineSteps";
import { GATEWAY_API_GROUP, gatewayNamespace, kubeconfig } from "../harness";
import { ISTIOD_PORTS } from "../istiod";
import { KubeObject } from "../kube";
import { APP_NAMESPACE } from "../../stages/names";
import { WalkContext } from "./context";
import { checkGatewayApiStatus } from "./gatewayApiStatus";

const ISTIO_KINDS = /^kubernetes:(networking|security)\.istio\.io\//;

/**
 * Istio's control plane after an up: istiod validated at least every Istio object the up
 * created or updated (unknown on the first up: istiod starts in it) and injected every pod;
 * the stored objects sent again as a dry run pass (Istio's through istiod's webhook, Gateway
 * API's through the API server's schema and CEL rules); istiod's gateway controller accepted,
 * programmed and resolved every Gateway API object; istioctl analyze is clean.
 */
export async function checkControlPlane(
    walk: WalkContext,
    what: string,
    planned: PlannedStep[],
    validatedDuringUp?: number,
) {
    const { istiod, api, timings } = walk;
    assert.ok(istiod, "istiod runs whenever Istio is in the loop");
    if (validatedDuringUp !== undefined) {
        const applied = planned.filter((s) => ISTIO_KINDS.test(s.type) && ["create", "update"].includes(s.op)).length;
        assert.ok(
            validatedDuringUp >= applied,
            `istiod validated ${validatedDuringUp} objects during the up, which applied ${applied} Istio objects`,
        );
    }
    const appPods = await checkSidecarsInjected(walk, what);
    const sent = await checkStoredObjectsValidated(walk, what);
    if (api === "gateway-api") await checkGatewayApiStatus(walk, what);
    const messages = await analyzeLive(kubeconfig, APP_NAMESPACE);
    assert.deepEqual(
        atLeastWarning(messages),
        [],
        `istioctl analyze -n voting after ${what}:\n${showMessages(messages)}`,
    );
    const counted = await istiod.counters(["galley_validation_passed", "sidecar_injection_success_total"]);
    timings.push(
        `  istio after ${what}: ${appPods} app pods injected; stored objects re-sent: ${sent}; istiod counted ${counted.galley_validation_passed} validations and ${counted.sidecar_injection_success_total} injections so far; istioctl analyze: ${messages.length ? messages.map((m) => `${m.level} ${m.code}`).join(", ") : "no message"}`,
    );
}

/**
 * istiod injected every pod: the app's (namespace label istio-injection=enabled) and the
 * gateway's (the chart's `gateway` template), each with its istio-proxy container. Returns
 * how many of the app's pods it checked.
 */
async function checkSidecarsInjected({ kube }: WalkContext, what: string): Promise<number> {
    const pods = [...(await kube.list("Pod", APP_NAMESPACE)), ...(await kube.list("Pod", gatewayNamespace))].filter(
        (p) => !p.metadata.deletionTimestamp,
    );
    assert.ok(pods.length > 0, `${what}: no pods`);
    const proxyOf = (p: KubeObject) =>
        [...(p.spec.containers ?? []), ...(p.spec.initContainers ?? [])].find((c: any) => c.name === "istio-proxy");
    const missing = pods.filter(
        (p) =>
            !proxyOf(p) || !(p.metadata.annotations as Record<string, string> | undefined)?.["sidecar.istio.io/status"],
    );
    assert.deepEqual(
        missing.map((p) => `${p.metadata.namespace}/${p.metadata.name}`),
        [],
        `${what}: pods without an injected istio-proxy`,
    );
    return pods.filter((p) => p.metadata.namespace === APP_NAMESPACE).length;
}

/**
 * The API groups whose objects the API server sends to the loopback istiod for validation, as
 * the live ValidatingWebhookConfigurations (Istio's charts') say: networking, security,
 * telemetry and extensions.istio.io; not Gateway API's, which Istio leaves to the API server
 * (the CRDs' schemas and CEL rules) and judges in its gateway controller's status instead.
 */
async function groupsSentToIstiod({ kube }: WalkContext): Promise<Set<string>> {
    const groups = new Set<string>();
    for (const config of await kube.list("ValidatingWebhookConfiguration"))
        for (const webhook of config.webhooks ?? []) {
            const url: string = webhook.clientConfig?.url ?? "";
            const service: string = webhook.clientConfig?.service?.name ?? "";
            if (!url.startsWith(`https://localhost:${ISTIOD_PORTS.webhooks}/`) && !/^istiod\b/.test(service)) continue;
            for (const rule of webhook.rules ?? [])
                if ((rule.operations ?? []).some((op: string) => op === "UPDATE" || op === "*"))
                    for (const group of rule.apiGroups ?? []) groups.add(group);
        }
    return groups;
}

/**
 * Every traffic object stored in the namespace (Istio's and Gateway API's), sent again as a
 * dry run, is accepted: by the API server (its schema, and a CRD's CEL rules) and, for the
 * groups Istio's webhooks cover, by istiod's validation webhook, which counts each (so the
 * webhook is really in the path, failurePolicy aside). This also covers the first up, whose
 * objects can reach the API server before the loopback istiod answers (kwok reports the
 * chart's istiod pods ready at once). Returns what it sent, for the timings.
 */
async function checkStoredObjectsValidated(walk: WalkContext, what: string): Promise<string> {
    const { kube, checks, istiod } = walk;
    const objects = [
        ...(
            await Promise.all(
                ["Gateway", "VirtualService", "DestinationRule", "PeerAuthentication"].map((k) =>
                    kube.list(k, APP_NAMESPACE),
                ),
            )
        ).flat(),
        ...(await checks.liveObjects()).filter((o) => o.apiVersion.startsWith(`${GATEWAY_API_GROUP}/`)),
    ];
    const groups = await groupsSentToIstiod(walk);
    const groupOf = (o: KubeObject) => o.apiVersion.split("/")[0];
    const toIstiod = objects.filter((o) => groups.has(groupOf(o)) || groups.has("*"));
    const istio = objects.filter((o) => /\.istio\.io$/.test(groupOf(o)));
    assert.deepEqual(
        istio.filter((o) => !toIstiod.includes(o)).map(objectLabel),
        [],
        `${what}: Istio objects istiod's webhooks are not sent`,
    );
    const before = await istiod!.counter("galley_validation_passed");
    for (const o of objects) {
        const path = await kube.pathOf(o);
        await kube.request("PUT", `${path}?dryRun=All`, o);
    }
    const validated = (await istiod!.counter("galley_validation_passed")) - before;
    assert.equal(
        validated,
        toIstiod.length,
        `${what}: istiod validated ${validated} of the ${toIstiod.length} objects its webhooks are sent (groups ${[...groups].join(", ")}), of ${objects.length} sent as a dry run`,
    );
    return `${objects.length}, ${toIstiod.length} through istiod`;
}
