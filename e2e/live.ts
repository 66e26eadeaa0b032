/**
 * Checks of the live app through the ingress, for targets where pods really run (kind or AKS in
 * users' CI: E2E_TARGET=cluster). They cannot run on a bare API server (no kubelet, no Istio
 * data plane), so the walk there skips them and says so.
 */
import { strict as assert } from "assert";
import * as http from "http";
import { APP_PORT, serviceHost } from "../stages/names";
import { KubeClient } from "./kube";

const ONE_ZERO = /^Cats: \d+ \| Dogs: \d+$/;
const WITH_TOTALS = /^Cats: \d+\/\d+ \(\d+%\) \| Dogs: \d+\/\d+ \(\d+%\)$/;

function get(url: string, cookie?: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
        const req = http.get(url, { headers: cookie ? { cookie } : {}, timeout: 10000 }, (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (c) => chunks.push(c));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
        });
        req.on("timeout", () => req.destroy(new Error(`GET ${url}: timed out`)));
        req.on("error", reject);
    });
}

/** The walkthrough's loop: the results line and the store named in the footer, `times` times. */
export async function sample(
    url: string,
    times: number,
    cookie?: string,
): Promise<{ results: string; store: string }[]> {
    const out: { results: string; store: string }[] = [];
    for (let i = 0; i < times; i++) {
        const { status, body } = await get(url, cookie);
        assert.equal(status, 200, `GET ${url} answered ${status}`);
        const results = /<div id="results">\s*(.*?)\s*<\/div>/.exec(body)?.[1] ?? "";
        const store = /Store:\s*(redis|mysql)/i.exec(body)?.[1]?.toLowerCase() ?? "";
        out.push({ results, store });
    }
    return out;
}

/** What users see at each stage, per the brief. */
export async function checkStageThroughIngress(stage: string, url: string): Promise<void> {
    const plain = await sample(url, 12);
    const flagged = await sample(url, 6, "session=e2e; featureflag=on");
    const texts = new Set(
        plain.map((p) =>
            ONE_ZERO.test(p.results) ? "1.0" : WITH_TOTALS.test(p.results) ? "1.1+" : `other: ${p.results}`,
        ),
    );
    const stores = new Set(plain.map((p) => p.store));
    switch (stage) {
        case "deploy":
            assert.deepEqual([...texts], ["1.0"]);
            assert.deepEqual([...stores], ["redis"]);
            break;
        case "update":
            assert.deepEqual([...texts].sort(), ["1.0", "1.1+"], "analytics 1.0 and 1.1 should alternate");
            break;
        case "lockdown":
            assert.deepEqual([...texts], ["1.1+"]);
            assert.deepEqual([...stores], ["redis"]);
            break;
        case "canary":
            assert.deepEqual([...stores], ["redis"], "unflagged users stay on 1.x");
            assert.deepEqual([...new Set(flagged.map((p) => p.store))], ["mysql"], "the flag cookie reaches 2.0");
            break;
        case "finalize":
            assert.deepEqual([...stores], ["mysql"]);
            assert.deepEqual([...texts], ["1.1+"]);
            break;
    }
}

/**
 * mTLS in force (from lockdown on): a pod outside the mesh (no sidecar) calling a service in the
 * namespace in plaintext must be refused. Runs curl in a throwaway pod and reads its log.
 */
export async function checkPlaintextRefused(kube: KubeClient, image = "curlimages/curl:8.11.1"): Promise<void> {
    const name = `mtls-probe-${Date.now().toString(36)}`;
    await kube.ensure({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name, namespace: "default", labels: { "sidecar.istio.io/inject": "false" } },
        spec: {
            restartPolicy: "Never",
            containers: [
                {
                    name: "curl",
                    image,
                    command: [
                        "sh",
                        "-c",
                        `curl -s -m 5 -o /dev/null -w '%{http_code}' http://${serviceHost("voting-analytics")}:${APP_PORT}/analytics; echo " exit=$?"`,
                    ],
                },
            ],
        },
    });
    try {
        const deadline = Date.now() + 120000;
        let phase = "";
        while (Date.now() < deadline) {
            phase = (await kube.get("Pod", "default", name))?.status?.phase ?? "";
            if (phase === "Succeeded" || phase === "Failed") break;
            await new Promise((r) => setTimeout(r, 1000));
        }
        const log = await kube.logs("default", name);
        assert.doesNotMatch(log, /^200 exit=0/, `plaintext request from outside the mesh was answered: ${log}`);
    } finally {
        await kube.remove("Pod", "default", name);
    }
}
