/**
 * Node sizing: what each container requests, and what the default system pool must hold at the
 * canary stage, its largest. The README's arithmetic and test/capacity.test.ts both use these
 * figures; the test reads the workloads' requests from what the program registers.
 */

/** CPU/memory requests per container of the app's workloads; the README's node sizing adds them up. */
export const CONTAINER_REQUESTS: Record<
    "voting-app" | "voting-analytics" | "redis" | "mysql" | "carry-votes",
    { cpu: string; memory: string }
> = {
    "voting-app": { cpu: "50m", memory: "64Mi" },
    "voting-analytics": { cpu: "50m", memory: "64Mi" },
    redis: { cpu: "50m", memory: "64Mi" },
    mysql: { cpu: "100m", memory: "512Mi" },
    /** The Job that carries the votes (stages/model.ts, voteCarry): one short run per stage change. */
    "carry-votes": { cpu: "50m", memory: "64Mi" },
};

/** Allocatable capacity of an AKS node after kube-reserved and eviction thresholds (conservative). */
export const NODE_ALLOCATABLE: Record<string, { cpuMillis: number; memoryMi: number }> = {
    // 2 vCPU, 8 GiB: AKS reserves ~100m CPU and ~2.3 GiB (kube-reserved + 100Mi eviction).
    Standard_D2s_v5: { cpuMillis: 1900, memoryMi: 5632 },
    // 4 vCPU, 16 GiB.
    Standard_D4s_v5: { cpuMillis: 3860, memoryMi: 12800 },
};

/** Istio's default sidecar requests (istiod chart, global.proxy.resources.requests). */
export const SIDECAR_REQUESTS = { cpuMillis: 100, memoryMi: 128 };

/**
 * AKS's own pods (an estimate, from the requests of a default AKS 1.3x cluster): per node the
 * DaemonSets (kube-proxy, cloud-node-manager, CSI drivers, CNS, ip-masq-agent), and once per
 * cluster CoreDNS x2, its autoscaler, metrics-server x2 and konnectivity-agent x2.
 */
export const AKS_SYSTEM_PER_NODE = { cpuMillis: 400, memoryMi: 500 };
export const AKS_SYSTEM_PER_CLUSTER = { cpuMillis: 400, memoryMi: 500 };

/** The share of allocatable capacity the largest stage may request, leaving room for rollouts. */
export const MAX_UTILISATION = 0.85;

export function parseCpu(q: string | number | undefined): number {
    if (q === undefined) return 0;
    const s = String(q);
    return s.endsWith("m") ? Number(s.slice(0, -1)) : Number(s) * 1000;
}

export function parseMemoryMi(q: string | number | undefined): number {
    if (q === undefined) return 0;
    const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi)?$/.exec(String(q));
    if (!m) throw new Error(`unsupported quantity ${q}`);
    const n = Number(m[1]);
    return m[2] === "Gi" ? n * 1024 : m[2] === "Ki" ? n / 1024 : m[2] === "Mi" ? n : n / (1024 * 1024);
}
