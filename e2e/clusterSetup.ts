/**
 * What the end-to-end target needs besides the API server: nodes that take pods (waited for here,
 * through the harness's one Kubernetes client), Istio's CRDs (Istio is "already present",
 * istio.install=false), a stand-in for the ingress gateway's Service (the program reads it for its
 * ingress outputs), and, where kwok simulates nodes, PersistentVolumes for the claims.
 */
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import {
    crdsOfBaseChart,
    KINDS as ISTIO_CRD_NAMES,
    VENDORED as VENDORED_SCHEMAS,
} from "../rig/vendor-istio-crd-schemas";
import { rigChartRepository } from "../test/support/chartRepository";
import { CHART_GATEWAY_SERVICE_PORTS } from "../test/support/runs";
import { KubeClient, KubeObject } from "./kube";

/** Istio's CRDs: those of the rig's `base` chart when it is there, else built from the vendored schemas. */
export function istioCrds(): { source: string; crds: KubeObject[] } {
    const charts = rigChartRepository();
    if (!("missing" in charts)) {
        const crds = YAML.parseAllDocuments(crdsOfBaseChart(charts.files.base))
            .map((d) => d.toJS())
            .filter((d) => d?.kind === "CustomResourceDefinition");
        return { source: charts.files.base, crds };
    }
    return { source: VENDORED_SCHEMAS, crds: crdsOfVendoredSchemas() };
}

/** Istio's CRDs as stand-ins: the vendored schemas of the kinds the program creates, each under its real CRD name. */
export function crdsOfVendoredSchemas(): KubeObject[] {
    const { schemas } = JSON.parse(fs.readFileSync(VENDORED_SCHEMAS, "utf8")) as { schemas: Record<string, unknown> };
    return Object.entries(schemas).map(([key, schema]) => {
        const [group, version, kind] = key.split("/");
        // Named as Istio's own CRDs are (the names the schemas were vendored from): gateways, authorizationpolicies.
        const plural = ISTIO_CRD_NAMES[key].split(".")[0];
        return {
            apiVersion: "apiextensions.k8s.io/v1",
            kind: "CustomResourceDefinition",
            metadata: { name: `${plural}.${group}` },
            spec: {
                group,
                names: { kind, listKind: `${kind}List`, plural, singular: kind.toLowerCase() },
                scope: "Namespaced",
                versions: [
                    {
                        name: version,
                        served: true,
                        storage: true,
                        schema: { openAPIV3Schema: schema },
                        subresources: { status: {} },
                    },
                ],
            },
        } as KubeObject;
    });
}

async function until<T>(what: string, seconds: number, probe: () => Promise<T | undefined>): Promise<T> {
    const deadline = Date.now() + seconds * 1000;
    for (;;) {
        const value = await probe();
        if (value !== undefined) return value;
        if (Date.now() > deadline) throw new Error(`timed out after ${seconds}s waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 250));
    }
}

/** A Node the scheduler binds pods to: Ready, and neither the not-ready nor the unreachable taint. */
function takesPods(node: KubeObject): boolean {
    const ready = node.status?.conditions?.some((c: any) => c.type === "Ready" && c.status === "True");
    const tainted = (node.spec?.taints ?? []).some((t: any) =>
        ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"].includes(t.key),
    );
    return Boolean(ready) && !tainted;
}

/**
 * Waits until at least `count` Nodes take pods. kwok reports its simulated nodes Ready at once;
 * the nodelifecycle controller removes the not-ready taint a new Node gets on its next pass.
 * Returns their names.
 */
export async function waitForNodes(kube: KubeClient, count: number, seconds = 90): Promise<string[]> {
    return until(`${count} node(s) to take pods`, seconds, async () => {
        const nodes = (await kube.list("Node").catch(() => [])).filter(takesPods).map((n) => n.metadata.name);
        return nodes.length >= count ? nodes : undefined;
    });
}

export async function installIstioCrds(kube: KubeClient): Promise<string> {
    const { source, crds } = istioCrds();
    for (const crd of crds) await kube.ensure(crd);
    for (const crd of crds) {
        await until(`CRD ${crd.metadata.name} to be established`, 60, async () => {
            const live = await kube.get("CustomResourceDefinition", undefined, crd.metadata.name);
            return live?.status?.conditions?.some((c: any) => c.type === "Established" && c.status === "True")
                ? true
                : undefined;
        });
    }
    return source;
}

/** The Service an Istio gateway chart release would have created (what the program reads). */
export async function installGatewayStandIn(kube: KubeClient, name: string, namespace: string): Promise<void> {
    await kube.ensure({ apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } });
    await kube.ensure({
        apiVersion: "v1",
        kind: "Service",
        metadata: { name, namespace, labels: { app: name, istio: name.replace(/^istio-/, "") } },
        spec: {
            type: "ClusterIP",
            selector: { app: name, istio: name.replace(/^istio-/, "") },
            ports: CHART_GATEWAY_SERVICE_PORTS,
        },
    });
}

/**
 * Storage as on AKS: a default StorageClass that binds a claim only when its first pod is scheduled
 * (AKS's managed-csi classes are WaitForFirstConsumer), so a claim no running pod uses stays
 * Pending, and the Kubernetes provider's wait on a new claim goes the way it does on AKS. No
 * provisioner runs here: the harness creates the volumes (hostPath, never used by a real kubelet)
 * that kube-scheduler binds when a pod needs them.
 */
export const E2E_STORAGE_CLASS = "e2e-wait-for-first-consumer";

export async function installVolumes(kube: KubeClient): Promise<void> {
    await kube.ensure({
        apiVersion: "storage.k8s.io/v1",
        kind: "StorageClass",
        metadata: { name: E2E_STORAGE_CLASS, annotations: { "storageclass.kubernetes.io/is-default-class": "true" } },
        provisioner: "kubernetes.io/no-provisioner",
        volumeBindingMode: "WaitForFirstConsumer",
        reclaimPolicy: "Retain",
    });
    for (const [name, size] of [
        ["e2e-pv-redis", "1Gi"],
        ["e2e-pv-mysql", "5Gi"],
    ]) {
        await kube.ensure({
            apiVersion: "v1",
            kind: "PersistentVolume",
            metadata: { name },
            spec: {
                capacity: { storage: size },
                accessModes: ["ReadWriteOnce"],
                persistentVolumeReclaimPolicy: "Retain",
                storageClassName: E2E_STORAGE_CLASS,
                hostPath: { path: `/tmp/${name}` },
            },
        });
        // A claim of an earlier stack that was destroyed left its volume Released (reclaim policy
        // Retain): make it Available for the next stack's claim, as an admin reuses such a volume.
        const volume = await kube.get("PersistentVolume", undefined, name);
        if (volume?.status?.phase === "Released")
            await kube.request(
                "PATCH",
                `/api/v1/persistentvolumes/${name}`,
                { spec: { claimRef: null } },
                "application/merge-patch+json",
            );
    }
}

/** Serves a folder over HTTP on 127.0.0.1 (a static Helm repository); `close` stops it. */
export async function serveFolder(folder: string): Promise<{ url: string; close: () => Promise<void> }> {
    const http = await import("http");
    const server = http.createServer((req, res) => {
        const name = decodeURIComponent((req.url ?? "/").split("?")[0]).replace(/^\/+/, "");
        const file = path.join(folder, name);
        if (!name || name.includes("..") || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
            res.writeHead(404).end();
            return;
        }
        res.writeHead(200, { "content-type": name.endsWith(".yaml") ? "text/yaml" : "application/gzip" });
        fs.createReadStream(file).pipe(res);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as { port: number };
    return { url: `http://127.0.0.1:${port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

export { until };

/** The address the load-balancer stand-in gives (TEST-NET-1, RFC 5737: routable nowhere). */
export const STAND_IN_LOAD_BALANCER_IP = "192.0.2.10";

/**
 * What a cloud controller does for a Service of type LoadBalancer, and nothing more: it writes an
 * address into the Service's status (AKS's Azure load balancer would, with a public IP). Helm's
 * wait for the gateway release and the program's ingress outputs read that status. Nothing listens
 * on the address. Polls until `stop`.
 */
export function standInLoadBalancer(
    kube: KubeClient,
    ip = STAND_IN_LOAD_BALANCER_IP,
): { stop: () => Promise<void>; assigned: string[] } {
    const assigned: string[] = [];
    let running = true;
    const loop = (async () => {
        while (running) {
            try {
                for (const service of await kube.list("Service")) {
                    if (service.spec?.type !== "LoadBalancer" || service.status?.loadBalancer?.ingress?.length)
                        continue;
                    const { name, namespace } = service.metadata;
                    await kube.request(
                        "PATCH",
                        `/api/v1/namespaces/${namespace}/services/${name}/status`,
                        { status: { loadBalancer: { ingress: [{ ip, ipMode: "VIP" }] } } },
                        "application/merge-patch+json",
                    );
                    assigned.push(`${namespace}/${name}`);
                }
            } catch {
                // the API server is still starting or going away: try again
            }
            await new Promise((r) => setTimeout(r, 500));
        }
    })();
    return {
        assigned,
        stop: async () => {
            running = false;
            await loop;
        },
    };
}

/**
 * `node -r ts-node/register/transpile-only e2e/clusterSetup.ts wait-for-nodes COUNT`, against
 * $KUBECONFIG: what e2e/run.sh runs once scripts/kube-apiserver.sh has started the control plane.
 */
if (require.main === module) {
    const [command, count] = process.argv.slice(2);
    if (command !== "wait-for-nodes" || !/^[0-9]+$/.test(count ?? "") || !process.env.KUBECONFIG) {
        process.stderr.write("usage: KUBECONFIG=... clusterSetup.ts wait-for-nodes COUNT\n");
        process.exit(2);
    }
    const started = Date.now();
    waitForNodes(KubeClient.fromKubeconfig(process.env.KUBECONFIG), Number(count)).then(
        (nodes) => {
            process.stderr.write(
                `e2e: ${nodes.length} node(s) take pods after ${Date.now() - started} ms: ${nodes.join(", ")}\n`,
            );
            process.exit(0);
        },
        (err: Error) => {
            process.stderr.write(`e2e: ${err.message}\n`);
            process.exit(1);
        },
    );
}
