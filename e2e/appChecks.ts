/**
 * The checks on what a stack's `pulumi up` left in the cluster, shared by the end-to-end suites
 * (the walk, the interrupted ups): its objects and no others, the votes' volumes with the same UIDs,
 * Gateway API's channel kept, routing request by request on the stored objects, the storage
 * Service's endpoints per engine, and render's YAML as the API server decodes it; and what every
 * preview must hold (no replacement, no create of an object the cluster holds).
 */
import { strict as assert } from "assert";
import { OutputMap } from "@pulumi/pulumi/automation";
import { followUserRequest, describe as show } from "../test/support/mesh";
import { expectPaths, expectRoutesComplete, expectStorageClientsServed } from "../test/support/checks";
import { EXPECTED, expectedSticky, FLAG, NO_FLAG, STICKY_COOKIES } from "../test/support/expected";
import { clusterOfObjects } from "../test/support/runs";
import { STAND_IN_LOAD_BALANCER_IP, until } from "./clusterSetup";
import { checkRenderDecodes } from "./renderDecodes";
import { checkStorageEndpoints } from "./storageEndpoints";
import { PlannedStep } from "./engineSteps";
import {
    CHANNEL,
    CONTROL_PLANE_CONFIGMAPS,
    createsOfExistingObjects,
    expectReady,
    GATEWAY_API_GATEWAY,
    gatewayName,
    gatewayNamespace,
    inAppScope,
    installsGatewayApiCrds,
    KINDS,
    labelsOf,
    objectsInNamespace,
    REPLACING,
    target,
    VOLUMES,
} from "./harness";
import { LoopbackIstiod } from "./istiod";
import { KubeClient, KubeObject } from "./kube";
import { StageName, STRICT_MTLS_STAGES } from "../stages/model";
import { APP_NAMESPACE } from "../stages/names";
import type { TrafficApi } from "../stages/traffic/router";

/**
 * The checks on one stack's cluster after its `up`s. `the.api()` is the stack's traffic API as of
 * its last up; the votes' volumes' UIDs (and Gateway API's channel's) are recorded at the first
 * check and must stay the same from then on.
 */
export function appChecks(
    kube: KubeClient,
    the: { settings: Record<string, string>; api: () => TrafficApi; istiod?: LoopbackIstiod },
) {
    const { settings, istiod } = the;
    const uids = new Map<string, string>();
    /** UIDs of Gateway API's standard channel objects, once the program has installed them. */
    const channelUids = new Map<string, string>();
    const usedVolumes = new Set<string>();
    const renderChecked = new Set<string>();

    /**
     * Routing on what the API server stored, request by request: for every Cookie header (none,
     * without and with the flag, the sticky canary's), the chains reached with their shares and
     * the cookie set per app version (test/support/expected.ts); every route of either API
     * complete; every storage client on its own engine.
     */
    function checkRouting(objects: KubeObject[], stage: string, weight: number, what: string) {
        const cluster = clusterOfObjects(objects, gatewayName, gatewayNamespace);
        expectRoutesComplete(cluster, `${what}: routes naming what does not exist`);
        for (const cookie of [undefined, ...NO_FLAG, ...FLAG, ...STICKY_COOKIES]) {
            const outcomes = followUserRequest(cluster, cookie);
            const { chains, setCookie } = expectedSticky(stage, weight, cookie);
            const context = `${what}, canaryWeight ${weight}, cookie ${cookie}`;
            expectPaths(outcomes, chains, context);
            for (const o of outcomes)
                assert.equal(
                    (o.setCookie ?? "").split(";")[0],
                    setCookie[o.path.app] ?? "",
                    `${context}: ${show(outcomes)}`,
                );
        }
        expectStorageClientsServed(cluster, `${what}, on the stored objects`);
    }

    /** The traffic APIs' objects and the app's, in its namespace (Gateway API's Gateway also beside the gateway's Service). */
    async function liveObjects(): Promise<KubeObject[]> {
        const namespaces = [APP_NAMESPACE, ...(gatewayNamespace === APP_NAMESPACE ? [] : [gatewayNamespace])];
        const lists = await Promise.all([
            ...KINDS.map((kind) => kube.list(kind, APP_NAMESPACE)),
            kube.listIfServed("HTTPRoute", APP_NAMESPACE),
            ...namespaces.map((ns) => kube.listIfServed(GATEWAY_API_GATEWAY, ns)),
        ]);
        return (
            lists
                .flat()
                .filter((o) => !(o.kind === "ConfigMap" && CONTROL_PLANE_CONFIGMAPS.includes(o.metadata.name)))
                // Kubernetes gives every namespace a `default` ServiceAccount; the app's pods never use it.
                .filter((o) => !(o.kind === "ServiceAccount" && o.metadata.name === "default"))
        );
    }

    async function volumeUids(): Promise<Record<string, string | undefined>> {
        const claims = await kube.list("PersistentVolumeClaim", APP_NAMESPACE);
        return Object.fromEntries(
            VOLUMES.map((name) => [name, claims.find((c) => c.metadata.name === name)?.metadata.uid]),
        );
    }

    /** The app's pods, as name@uid: a switch of API must leave every one of them running. */
    async function podUids(): Promise<string[]> {
        return (await kube.list("Pod", APP_NAMESPACE))
            .filter((p) => !p.metadata.deletionTimestamp)
            .map((p) => `${p.metadata.name}@${p.metadata.uid}`)
            .sort();
    }

    /**
     * Gateway API's standard channel (traffic.gatewayApiCrds=install): in the cluster from the first
     * switch to Gateway API on, with the same UIDs, whichever API the stack uses now (retainOnDelete).
     */
    async function checkChannelKept(what: string) {
        const api = the.api();
        if (!installsGatewayApiCrds || (api === "istio" && channelUids.size === 0)) return;
        for (const { kind, name } of CHANNEL) {
            const live = await kube.get(kind, undefined, name);
            assert.ok(live, `${what}: ${kind}/${name} of Gateway API's standard channel is gone`);
            const first = channelUids.get(`${kind}/${name}`);
            if (first) assert.equal(live.metadata.uid, first, `${what}: ${kind}/${name} was re-created`);
            else channelUids.set(`${kind}/${name}`, live.metadata.uid!);
        }
    }

    /** The preview's steps outside the app, as "op Kind/name" (the stack itself and what is read aside). */
    const outsideTheApp = (planned: PlannedStep[]) =>
        planned.filter(
            (s) => !inAppScope(s) && !["same", "read"].includes(s.op) && !/^pulumi:pulumi:Stack$/.test(s.type),
        );

    /** The preview's changes in the app (its namespace), by operation, each sorted. */
    function appChanges(planned: PlannedStep[]) {
        const inApp = planned.filter(inAppScope);
        const ops = (...names: string[]) =>
            inApp
                .filter((s) => names.includes(s.op))
                .map((s) => s.label)
                .sort();
        for (const volume of inApp.filter((s) => s.label.startsWith("PersistentVolumeClaim/"))) {
            assert.ok(volume.protect, `${volume.label} is not protected`);
        }
        return { create: ops("create"), update: ops("update"), delete: ops("delete", "discard") };
    }

    /** What every preview must hold: no replacement, and no create of an object the cluster already holds. */
    async function checkPlanSafe(planned: PlannedStep[]) {
        // Kubernetes provider 4.29+ creates client-side: a create of an object that is in the
        // cluster fails with AlreadyExists. The provider built here (4.25) would upsert it
        // silently, so the harness checks it itself.
        assert.deepEqual(
            await createsOfExistingObjects(kube, planned),
            [],
            "planned creates of objects the cluster already holds",
        );
        assert.deepEqual(
            planned.filter((s) => REPLACING.includes(s.op)).map((s) => `${s.op} ${s.label}`),
            [],
            "nothing may be replaced",
        );
    }

    /**
     * After an up to `stage` (at `weight`) in the stack's API: the stage's objects in that API and
     * no other, the votes' volumes (same UIDs, Bound once used), Gateway API's channel kept, the
     * Deployments available and the storage endpoints per engine, routing on the stored objects,
     * STRICT mTLS, and render's YAML as the API server decodes it.
     */
    async function checkAfterUp(what: string, stage: StageName, weight: number, outputs: OutputMap) {
        const api = the.api();
        assert.equal(outputs.stage.value, stage);
        assert.equal(outputs.trafficApi?.value, api, "the stack's traffic API");
        if (istiod) {
            await istiod.ready();
            assert.equal(
                outputs.ingressUrl?.value,
                `http://${STAND_IN_LOAD_BALANCER_IP}/`,
                "the gateway's load-balancer address as the stack's ingress URL",
            );
        }

        const objects = await liveObjects();
        assert.deepEqual(labelsOf(objects), objectsInNamespace(stage, api), `${what}: the objects in the cluster`);

        // The votes' volumes are the same objects across the whole walk.
        for (const [name, uid] of Object.entries(await volumeUids())) {
            assert.ok(uid, `${name} is missing`);
            const first = uids.get(name);
            if (first) assert.equal(uid, first, `${name} was re-created`);
            else uids.set(name, uid);
        }
        await checkChannelKept(what);
        if (target === "apiserver") {
            // As on AKS (WaitForFirstConsumer): a claim binds when its store's pod first runs,
            // and a claim no store has used yet (MySQL's, before canary) stays Pending.
            for (const claim of await kube.list("PersistentVolumeClaim", APP_NAMESPACE)) {
                const store =
                    claim.metadata.labels?.version === "1.0"
                        ? "Deployment/voting-storage-1-0"
                        : "Deployment/voting-storage-2-0";
                if (EXPECTED[stage].includes(store)) usedVolumes.add(claim.metadata.name);
                const phase = usedVolumes.has(claim.metadata.name) ? "Bound" : "Pending";
                await until(`${claim.metadata.name} to be ${phase}`, 60, async () =>
                    (await kube.get("PersistentVolumeClaim", APP_NAMESPACE, claim.metadata.name))?.status?.phase ===
                    phase
                        ? true
                        : undefined,
                );
            }
        }

        if (expectReady) {
            await until(`the Deployments of ${stage} to be available`, 120, async () => {
                const deployments = await kube.list("Deployment", APP_NAMESPACE);
                return deployments.every((d) => (d.status?.availableReplicas ?? 0) >= d.spec.replicas)
                    ? true
                    : undefined;
            });
            await checkStorageEndpoints(kube, stage);
        }

        checkRouting(objects, stage, weight, what);
        const strict = objects.find((o) => o.kind === "PeerAuthentication");
        assert.equal(strict?.spec?.mtls?.mode, STRICT_MTLS_STAGES.includes(stage) ? "STRICT" : undefined);

        if (!renderChecked.has(`${api} ${stage}`)) {
            renderChecked.add(`${api} ${stage}`);
            await checkRenderDecodes(kube, settings, api, stage);
        }
    }

    return {
        checkRouting,
        liveObjects,
        volumeUids,
        podUids,
        checkChannelKept,
        outsideTheApp,
        appChanges,
        checkPlanSafe,
        checkAfterUp,
        uids,
    };
}

/** The checks appChecks returns. */
export type AppChecks = ReturnType<typeof appChecks>;
