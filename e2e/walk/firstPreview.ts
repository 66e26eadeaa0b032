/**
 * A new user's first preview, on a cluster with nothing installed (apiserver target, Istio in the
 * loop): with istio.install=true (the default) and Istio's charts from a Helm repository on
 * loopback, the engine plans Istio's three releases, the gateway Service's read and the app, in
 * either traffic API (Gateway API: its standard channel too), and no create of an object that
 * exists. A stack of its own, disposed at the end.
 */
import { strict as assert } from "assert";
import * as path from "path";
import { CHARTS_ENV } from "../../test/support/chartRepository";
import { serveFolder } from "../clusterSetup";
import { EphemeralStack } from "../ephemeralStack";
import {
    baseSettings,
    CHANNEL_LABELS,
    createsOfExistingObjects,
    inAppScope,
    installsGatewayApiCrds,
    ISTIO,
    log,
    objectsInNamespace,
    SECRETS,
    withoutIstio,
} from "../harness";
import { PILOT_DISCOVERY } from "../istiod";
import { PROJECT } from "../../stages/names";
import type { TrafficApi } from "../../stages/traffic/router";
import { WalkContext } from "./context";

/** The describe "a cluster with nothing installed" and its two tests. */
export function firstPreviewTests(walk: WalkContext) {
    describe("a cluster with nothing installed", function () {
        it(`Istio is in the loop: its charts (${CHARTS_ENV} or ../shared) and its tools (istiod, istioctl) are there`, function () {
            withoutIstio(this, "Istio's charts and tools");
            if (ISTIO.ok)
                process.stderr.write(
                    `e2e: Istio ${ISTIO.charts.version}'s charts from ${ISTIO.charts.dir}, istiod and istioctl from ${path.dirname(PILOT_DISCOVERY)}\n`,
                );
        });

        it("the first preview with istio.install=true (the default) plans Istio, the app and the gateway's address, in either traffic API (Gateway API: its CRDs too)", async function () {
            withoutIstio(this, "the first preview with istio.install=true");
            if (!ISTIO.ok) return;
            const charts = await serveFolder(ISTIO.charts.dir);
            const stack = await EphemeralStack.create({
                program: process.env.E2E_PROGRAM === "inline" ? "inline" : "local",
            });
            try {
                assert.deepEqual(
                    await walk.kube
                        .list("Namespace")
                        .then((l) => l.map((n) => n.metadata.name).filter((n) => /istio|voting/.test(n))),
                    [],
                    "the cluster must start empty",
                );
                await stack.configure(
                    {
                        ...baseSettings(),
                        "istio.chartRepository": charts.url,
                        "istio.version": ISTIO.charts.version,
                        "istio.gatewayServiceType": "NodePort",
                        "images.build": "false",
                        "images.registry": "registry.e2e.invalid",
                    },
                    SECRETS,
                );
                for (const api of ["istio", "gateway-api"] as TrafficApi[]) {
                    await stack.stack.setConfig(`${PROJECT}:traffic.api`, { value: api }, true);
                    const t = Date.now();
                    const planned = await stack.preview();
                    walk.timings.push(`first preview, nothing installed, ${api} ${Date.now() - t} ms`);
                    const releases = planned.filter((s) => s.type === "kubernetes:helm.sh/v3:Release");
                    assert.deepEqual(releases.map((s) => `${s.op} ${s.label}`).sort(), [
                        "create Release/istio-base",
                        "create Release/istio-gateway",
                        "create Release/istio-istiod",
                    ]);
                    const read = planned.find(
                        (s) => s.type === "kubernetes:core/v1:Service" && s.op.startsWith("read"),
                    );
                    assert.ok(
                        read,
                        `the gateway Service's read is planned: ${planned.map((s) => `${s.op} ${s.label}`).join(", ")}`,
                    );
                    const app = planned
                        .filter((s) => inAppScope(s) && s.op === "create")
                        .map((s) => s.label)
                        .sort();
                    assert.deepEqual(app, objectsInNamespace("deploy", api), api);
                    // Outside the app: the releases, and with Gateway API its standard channel.
                    const channel = planned
                        .filter((s) => s.type.startsWith("kubernetes:") && !inAppScope(s) && s.op === "create")
                        .filter((s) => !/^kubernetes:(helm\.sh\/v3:Release|core\/v1:Namespace)$/.test(s.type))
                        .map((s) => s.label)
                        .sort();
                    assert.deepEqual(
                        channel,
                        api === "gateway-api" && installsGatewayApiCrds ? CHANNEL_LABELS : [],
                        `${api}: created outside the app namespace`,
                    );
                    assert.deepEqual(await createsOfExistingObjects(walk.kube, planned), []);
                }
            } finally {
                await stack.dispose((line) => log(line));
                await charts.close();
            }
        });
    });
}
