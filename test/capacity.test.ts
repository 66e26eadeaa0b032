import { strict as assert } from "assert";
import { appObjects } from "../mock/runProgram";
import {
    AKS_SYSTEM_PER_CLUSTER,
    AKS_SYSTEM_PER_NODE,
    MAX_UTILISATION,
    NODE_ALLOCATABLE,
    parseCpu,
    parseMemoryMi,
    SIDECAR_REQUESTS,
} from "../stages/capacity";
import { runStage } from "./support/runs";

/** Requests of the canary stage, as registered, plus Istio and AKS's own pods. */
async function canaryDemand(nodeCount: number) {
    const r = await runStage("canary");
    let cpu = 0;
    let memory = 0;
    let pods = 0;
    for (const d of appObjects(r).filter((o) => o.kind === "Deployment")) {
        const replicas = d.spec.replicas;
        pods += replicas;
        for (const c of d.spec.template.spec.containers) {
            cpu += replicas * (parseCpu(c.resources?.requests?.cpu) + SIDECAR_REQUESTS.cpuMillis);
            memory += replicas * (parseMemoryMi(c.resources?.requests?.memory) + SIDECAR_REQUESTS.memoryMi);
        }
    }
    const releases = r.resources.filter((x) => x.type === "kubernetes:helm.sh/v3:Release");
    const istiod = releases.find((x) => x.inputs.chart === "istiod")!.inputs.values.resources.requests;
    const gateway = releases.find((x) => x.inputs.chart === "gateway")!.inputs.values.resources.requests;
    cpu += parseCpu(istiod.cpu) + parseCpu(gateway.cpu);
    memory += parseMemoryMi(istiod.memory) + parseMemoryMi(gateway.memory);
    // AKS's DaemonSets run on every node; its per-cluster pods (CoreDNS, metrics-server, ...) run on
    // the tainted system pool, not here.
    cpu += nodeCount * AKS_SYSTEM_PER_NODE.cpuMillis;
    memory += nodeCount * AKS_SYSTEM_PER_NODE.memoryMi;
    return { cpu, memory, pods };
}

describe("node sizing", () => {
    it("the default workload pool (2 x Standard_D2s_v5, the autoscaler's minimum) holds the canary stage, Istio and sidecars included, below 85%", async () => {
        const r = await runStage("canary");
        const workload = r.resources.find((x) => x.type === "azure-native:containerservice:AgentPool")!.inputs;
        const pool = { vmSize: workload.vmSize, count: workload.minCount };
        const node = NODE_ALLOCATABLE[pool.vmSize];
        const demand = await canaryDemand(pool.count);
        assert.equal(demand.pods, 11);
        assert.ok(
            demand.cpu <= MAX_UTILISATION * pool.count * node.cpuMillis,
            `CPU ${demand.cpu}m of ${pool.count * node.cpuMillis}m`,
        );
        assert.ok(
            demand.memory <= MAX_UTILISATION * pool.count * node.memoryMi,
            `memory ${demand.memory}Mi of ${pool.count * node.memoryMi}Mi`,
        );
    });

    it("one such node would not leave that headroom (why the minimum is 2)", async () => {
        const demand = await canaryDemand(1);
        assert.ok(demand.cpu > MAX_UTILISATION * 1 * NODE_ALLOCATABLE.Standard_D2s_v5.cpuMillis, `CPU ${demand.cpu}m`);
    });

    it("the default system pool (1 x Standard_D2s_v5) holds AKS's own pods below 85%: its DaemonSets and its per-cluster pods", async () => {
        const r = await runStage("canary");
        const [system] = r.resources.find((x) => x.type === "azure-native:containerservice:ManagedCluster")!.inputs
            .agentPoolProfiles;
        const node = NODE_ALLOCATABLE[system.vmSize];
        const cpu = system.count * AKS_SYSTEM_PER_NODE.cpuMillis + AKS_SYSTEM_PER_CLUSTER.cpuMillis;
        const memory = system.count * AKS_SYSTEM_PER_NODE.memoryMi + AKS_SYSTEM_PER_CLUSTER.memoryMi;
        assert.ok(cpu <= MAX_UTILISATION * system.count * node.cpuMillis, `CPU ${cpu}m`);
        assert.ok(memory <= MAX_UTILISATION * system.count * node.memoryMi, `memory ${memory}Mi`);
    });
});
