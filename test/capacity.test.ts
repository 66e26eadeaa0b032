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
    cpu += nodeCount * AKS_SYSTEM_PER_NODE.cpuMillis + AKS_SYSTEM_PER_CLUSTER.cpuMillis;
    memory += nodeCount * AKS_SYSTEM_PER_NODE.memoryMi + AKS_SYSTEM_PER_CLUSTER.memoryMi;
    return { cpu, memory, pods };
}

describe("node sizing", () => {
    it("the default pool (3 x Standard_D2s_v5) holds the canary stage, Istio and sidecars included, below 85%", async () => {
        const r = await runStage("canary");
        const pool = r.resources.find((x) => x.type === "azure-native:containerservice:ManagedCluster")!.inputs
            .agentPoolProfiles[0];
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

    it("two such nodes would not leave that headroom (why the default is 3)", async () => {
        const demand = await canaryDemand(2);
        assert.ok(demand.cpu > MAX_UTILISATION * 2 * NODE_ALLOCATABLE.Standard_D2s_v5.cpuMillis, `CPU ${demand.cpu}m`);
    });
});
