/**
 * The real Pulumi engine runs the real program against a real Kubernetes API server: one
 * ephemeral stack walks deploy -> update -> lockdown -> canary -> finalize, then rolls back one
 * stage, checking after each step what the cluster holds (objects present and absent, routing
 * objects' contents evaluated request by request) and, before it, what the engine's preview plans.
 * The stack is destroyed and removed at the end, also when a step failed.
 *
 * Environment: KUBECONFIG (required); E2E_TARGET=apiserver (default: bare API server, Istio
 * "already present" as CRDs, no images pulled) or cluster (kind/AKS: live checks through the
 * ingress too); E2E_PROGRAM=local|inline; E2E_CONFIG (JSON, extra stack settings);
 * E2E_EXPECT_READY=1 when pods become ready (kwok, kind, AKS).
 */
import { strict as assert } from "assert";
import { STAGE_NAMES } from "../stages/model";
import { followUserRequest, describe as show } from "../test/support/mesh";
import { EXPECTED, FLAG, FORWARD, NO_FLAG, ROUTES } from "../test/support/expected";
import { chartGatewayPodLabels } from "../test/support/runs";
import { installGatewayStandIn, installIstioCrds, installVolumes, until } from "./clusterSetup";
import { EphemeralStack, PlannedStep } from "./ephemeralStack";
import { KubeClient, KubeObject } from "./kube";
import { checkPlaintextRefused, checkStageThroughIngress } from "./live";

const target = process.env.E2E_TARGET ?? "apiserver";
const expectReady = process.env.E2E_EXPECT_READY === "1";
const kubeconfig = process.env.KUBECONFIG ?? "";
const gatewayName = "istio-ingressgateway";
const gatewayNamespace = "istio-ingress";
const KINDS = ["Deployment", "Service", "Secret", "ConfigMap", "PersistentVolumeClaim", "Gateway", "VirtualService", "DestinationRule", "PeerAuthentication"];
const REPLACING: string[] = ["replace", "create-replacement", "delete-replaced", "discard-replaced"];

/** The walk: every stage forward, then one step back. */
const WALK = [...STAGE_NAMES, "canary"] as const;

function log(line: string) {
    if (process.env.E2E_VERBOSE) process.stderr.write(line);
}

function expectedChanges(from: string, to: string) {
    const forward = FORWARD[`${from}->${to}`];
    if (forward) return forward;
    const back = FORWARD[`${to}->${from}`];
    return { create: back.delete, update: back.update, delete: back.create };
}

describe(`end to end (${target}): the real engine walks every stage and back`, function () {
    this.timeout(15 * 60 * 1000);
    let kube: KubeClient;
    let stack: EphemeralStack | undefined;
    const uids = new Map<string, string>();
    const everRetained = new Set<string>();
    const timings: string[] = [];

    before(async function () {
        assert.ok(kubeconfig, "KUBECONFIG must name the target cluster's kubeconfig");
        kube = KubeClient.fromKubeconfig(kubeconfig, process.env.E2E_CONTEXT);
        const settings: Record<string, string> = {
            "cluster.mode": "kubeconfig",
            "cluster.kubeconfig": kubeconfig,
            ...(process.env.E2E_CONTEXT ? { "cluster.context": process.env.E2E_CONTEXT } : {}),
        };
        if (target === "apiserver") {
            const t = Date.now();
            const source = await installIstioCrds(kube);
            await installGatewayStandIn(kube, gatewayName, gatewayNamespace);
            await installVolumes(kube);
            timings.push(`cluster stand-ins (Istio CRDs from ${source}) ${Date.now() - t} ms`);
            Object.assign(settings, {
                "istio.install": "false",
                "istio.gatewayName": gatewayName,
                "istio.gatewayNamespace": gatewayNamespace,
                "images.build": "false",
                "images.registry": "registry.e2e.invalid",
            });
        }
        Object.assign(settings, JSON.parse(process.env.E2E_CONFIG ?? "{}"));
        stack = await EphemeralStack.create({ program: process.env.E2E_PROGRAM === "inline" ? "inline" : "local" });
        // Passwords as secret config: the walk needs no random provider plugin.
        await stack.configure(settings, { mysqlPassword: "e2e-app-password-0123", mysqlRootPassword: "e2e-root-password-0123" });
    });

    after(async function () {
        this.timeout(10 * 60 * 1000);
        const t = Date.now();
        if (stack) await stack.dispose((line) => log(line));
        timings.push(`destroy and stack rm ${Date.now() - t} ms`);
        process.stderr.write(`e2e timings:\n  ${timings.join("\n  ")}\n`);
    });

    async function liveObjects(): Promise<KubeObject[]> {
        return (await Promise.all(KINDS.map((kind) => kube.list(kind, "voting")))).flat()
            .filter((o) => !(o.kind === "ConfigMap" && o.metadata.name === "kube-root-ca.crt"));
    }

    WALK.forEach((stage, i) => {
        const from = i === 0 ? undefined : WALK[i - 1];
        const step = `${from ?? "(new stack)"} -> ${stage}`;
        let planned: PlannedStep[] = [];

        it(`${step}: the engine's preview plans exactly the stage table's changes`, async () => {
            await stack!.stack.setConfig("aks-istio-canary:stage", { value: stage });
            const t = Date.now();
            planned = await stack!.preview();
            timings.push(`preview ${step} ${Date.now() - t} ms`);
            const replacing = planned.filter((s) => REPLACING.includes(s.op));
            assert.deepEqual(replacing.map((s) => `${s.op} ${s.label}`), [], "nothing may be replaced");
            const inApp = planned.filter((s) => s.namespace === "voting");
            const ops = (...names: string[]) => inApp.filter((s) => names.includes(s.op)).map((s) => s.label).sort();
            if (!from) {
                assert.deepEqual(ops("create"), [...EXPECTED[stage]].filter((l) => l !== "Namespace/voting").sort());
                return;
            }
            const expected = expectedChanges(from, stage);
            assert.deepEqual({ create: ops("create"), update: ops("update"), delete: ops("delete", "discard") }, expected);
            const outside = planned.filter((s) => s.namespace !== "voting" && !["same", "read"].includes(s.op) && !/^pulumi:pulumi:Stack$/.test(s.type));
            assert.deepEqual(outside.map((s) => `${s.op} ${s.label}`), [], "a stage change touches nothing outside the app namespace (cluster, Istio, the namespace itself)");
            for (const d of inApp.filter((s) => s.op === "delete" || s.op === "discard")) {
                if (d.label.startsWith("PersistentVolumeClaim/")) assert.ok(d.retainOnDelete, `${d.label} must be retained, not deleted`);
            }
        });

        it(`${step}: pulumi up, then the cluster holds the stage's objects and routes`, async () => {
            const t = Date.now();
            const outputs = await stack!.up((line) => log(line));
            timings.push(`up ${step} ${Date.now() - t} ms`);
            assert.equal(outputs.stage.value, stage);

            const objects = await liveObjects();
            const present = objects.map((o) => `${o.kind}/${o.metadata.name}`);
            for (const o of objects.filter((x) => x.kind === "PersistentVolumeClaim")) everRetained.add(`PersistentVolumeClaim/${o.metadata.name}`);
            const expected = new Set([...EXPECTED[stage].filter((l) => l !== "Namespace/voting"), ...everRetained]);
            assert.deepEqual(present.sort(), [...expected].sort());

            // Volumes are the same objects across the walk: votes are never thrown away.
            for (const pvc of objects.filter((o) => o.kind === "PersistentVolumeClaim")) {
                const first = uids.get(pvc.metadata.name);
                if (first) assert.equal(pvc.metadata.uid, first, `${pvc.metadata.name} was recreated`);
                else uids.set(pvc.metadata.name, pvc.metadata.uid!);
            }

            if (expectReady) {
                await until(`the Deployments of ${stage} to be available`, 120, async () => {
                    const deployments = await kube.list("Deployment", "voting");
                    return deployments.every((d) => (d.status?.availableReplicas ?? 0) >= d.spec.replicas) ? true : undefined;
                });
            }

            // Routing, request by request, on what the API server stored.
            const cluster = { objects: objects as any[], namespace: "voting", gatewayPodLabels: chartGatewayPodLabels(gatewayName) };
            const routes = ROUTES[stage];
            const key = (x: unknown) => JSON.stringify(x);
            for (const [cookies, wanted] of [[NO_FLAG, routes.withoutFlag], [FLAG, routes.withFlag]] as const) {
                for (const cookie of cookies) {
                    const outcomes = followUserRequest(cluster, cookie);
                    assert.deepEqual(outcomes.filter((o) => o.error), [], `${stage}, cookie ${cookie}: ${show(outcomes)}`);
                    assert.deepEqual(outcomes.map((o) => key([o.path, Math.round(o.share * 1000) / 10])).sort(), wanted.map(key).sort(), show(outcomes));
                }
            }
            const strict = objects.find((o) => o.kind === "PeerAuthentication");
            assert.equal(strict?.spec?.mtls?.mode, ["lockdown", "canary", "finalize"].includes(stage) ? "STRICT" : undefined);
        });

        if (target === "cluster") {
            it(`${step}: through the ingress, users see what the stage promises`, async () => {
                const outputs = await stack!.stack.outputs();
                await checkStageThroughIngress(stage, outputs.ingressUrl.value);
                if (["lockdown", "canary", "finalize"].includes(stage)) await checkPlaintextRefused(kube);
            });
        }
    });
});
