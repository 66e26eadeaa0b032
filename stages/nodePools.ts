/**
 * The AKS cluster's node pools, as data. The system pool is created with the cluster and never
 * changed by the program (AKS refuses a VM size change on an existing pool, and the provider does
 * not replace a pool held inside the cluster resource); the app runs on a separate workload pool
 * whose name follows its VM size, so a new size is a new pool: created first, then the old one
 * deleted, AKS draining its nodes under the PodDisruptionBudgets (make before break for nodes).
 */
/** The system pool: AKS's own pods only (tainted CriticalAddonsOnly), fixed at cluster creation. */
export const SYSTEM_POOL = {
    name: "system",
    taint: "CriticalAddonsOnly=true:NoSchedule",
} as const;

/**
 * The workload pool's AKS name for a VM size: "work" and the 8 hex digits of the size's FNV-1a
 * hash (Linux pool names are lower-case letters and digits, at most 12). Stable per size (whatever
 * its case), new for a new size.
 */
export function workloadPoolName(vmSize: string): string {
    let hash = 0x811c9dc5;
    for (const byte of new TextEncoder().encode(vmSize.toLowerCase())) {
        hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
    }
    return `work${hash.toString(16).padStart(8, "0")}`;
}

/** Surge nodes during an upgrade of the workload pool: a third more, so a drain always has room. */
export const WORKLOAD_POOL_MAX_SURGE = "33%";
