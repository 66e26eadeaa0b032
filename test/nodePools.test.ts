/**
 * The AKS node pools as a planned transition under the mock runtime: a new VM size for the workload
 * pool is a new pool, created before the old one is deleted, with nothing else changing; the
 * cluster's own pool list is never updated (AKS refuses a VM size change on an existing pool);
 * what runs on the nodes waits for the pool; a drain keeps every replicated Deployment serving.
 */
import { strict as assert } from "assert";
import { diff } from "../mock/changes";
import { appObjects, ProgramError, ProgramRun } from "../mock/runProgram";
import { workloadPoolName } from "../stages/nodePools";
import { STAGE_NAMES } from "../stages/model";
import { run } from "./support/runs";

const POOL = "azure-native:containerservice:AgentPool";
const poolOf = (r: ProgramRun) => r.resources.find((x) => x.type === POOL)!;

describe("node pools change without downtime (aks mode)", () => {
    let smaller: ProgramRun;
    let larger: ProgramRun;
    before(async () => {
        smaller = await run({ stage: "canary" });
        larger = await run({ stage: "canary", "cluster.nodeVmSize": "Standard_D4s_v5" });
    });

    it("a new VM size is a new pool (its AKS name follows the size), created before the old one is deleted", () => {
        const [old, next] = [poolOf(smaller), poolOf(larger)];
        assert.equal(old.urn, next.urn, "one logical pool, replaced");
        assert.equal(old.inputs.agentPoolName, workloadPoolName("Standard_D2s_v5"));
        assert.equal(next.inputs.agentPoolName, workloadPoolName("Standard_D4s_v5"));
        assert.notEqual(old.inputs.agentPoolName, next.inputs.agentPoolName, "a new name: a new Azure resource ID");
        assert.match(next.inputs.agentPoolName, /^[a-z][a-z0-9]{0,11}$/, "an AKS Linux pool name");
        // Pulumi's default, kept explicit: the replacement is created first; the replaced pool is
        // deleted at the end of the update, larger everything that depends on it is in place.
        assert.equal(next.deleteBeforeReplace, false);
    });

    it("nothing else changes: not the cluster, not Istio, not the app", () => {
        const changed = diff(smaller, larger).filter((s) => s.kind !== "same");
        assert.deepEqual(
            changed.map((s) => `${s.kind} ${s.label}`),
            ["update AgentPool/voting-workload-pool"],
        );
    });

    it("the cluster's pool list is read at creation only; the workload pool's count is the autoscaler's", () => {
        const cluster = smaller.resources.find((x) => x.type === "azure-native:containerservice:ManagedCluster")!;
        assert.deepEqual(cluster.ignoreChanges, ["agentPoolProfiles"]);
        assert.deepEqual(
            cluster.inputs.agentPoolProfiles.map((p: { name: string }) => p.name),
            ["system"],
            "only the system pool inside the cluster resource",
        );
        assert.deepEqual(poolOf(smaller).ignoreChanges, ["count"]);
        const scaled = poolOf(smaller).inputs;
        assert.ok(scaled.enableAutoScaling && scaled.minCount <= scaled.count && scaled.count <= scaled.maxCount);
    });

    it("what runs on the nodes waits for the workload pool: the Kubernetes provider, hence Istio and the app", () => {
        const provider = smaller.resources.find((x) => x.type === "pulumi:providers:kubernetes")!;
        assert.ok(
            provider.dependencies.includes(poolOf(smaller).urn),
            `the Kubernetes provider's kubeconfig is read larger the pool exists: ${provider.dependencies.join(", ")}`,
        );
        // A resource waits for its provider: every Kubernetes object (the Istio releases, the app) uses it.
        const kubernetes = smaller.resources.filter((x) => x.type.startsWith("kubernetes:"));
        assert.ok(kubernetes.length > 10);
        for (const x of kubernetes)
            assert.ok(x.provider.startsWith(`${provider.urn}::`), `${x.urn} uses ${x.provider}`);
    });

    it("every Deployment with more than one replica has a PodDisruptionBudget, in every stage, so a drain keeps it serving", async () => {
        for (const stage of STAGE_NAMES) {
            const objects = appObjects(await run({ stage, "cluster.mode": "kubeconfig" }));
            const budgets = objects.filter((o) => o.kind === "PodDisruptionBudget");
            for (const d of objects.filter((o) => o.kind === "Deployment" && o.spec.replicas > 1)) {
                const budget = budgets.find(
                    (b) => JSON.stringify(b.spec.selector.matchLabels) === JSON.stringify(d.spec.selector.matchLabels),
                );
                assert.ok(budget, `${stage}: no PodDisruptionBudget selects ${d.metadata.name}'s pods`);
                assert.equal(budget.spec.maxUnavailable, 1, `${stage}: ${budget.metadata.name}`);
            }
            for (const b of budgets) {
                const selected = objects.filter(
                    (o) =>
                        o.kind === "Deployment" &&
                        JSON.stringify(o.spec.selector.matchLabels) === JSON.stringify(b.spec.selector.matchLabels),
                );
                assert.equal(selected.length, 1, `${stage}: ${b.metadata.name} selects exactly one Deployment`);
                assert.ok(selected[0].spec.replicas > 1, `${stage}: ${b.metadata.name} guards a replicated Deployment`);
            }
        }
        // One replica: no budget (it could only block a drain, never keep the app serving).
        const single = appObjects(await run({ stage: "canary", appReplicas: "1", "cluster.mode": "kubeconfig" }));
        assert.deepEqual(
            single.filter((o) => o.kind === "PodDisruptionBudget"),
            [],
        );
    });

    it("bad bounds stop the run before anything is registered", async () => {
        const refused = (message: RegExp) => (err: ProgramError) => {
            assert.match(err.message, message);
            assert.deepEqual(err.registered, [], "nothing registered");
            return true;
        };
        await assert.rejects(
            run({ stage: "deploy", "cluster.minNodeCount": "3" }),
            refused(/cluster\.minNodeCount = "3".*at most cluster\.nodeCount \(2\)/),
        );
        await assert.rejects(
            run({ stage: "deploy", "cluster.maxNodeCount": "1" }),
            refused(/cluster\.maxNodeCount = "1".*at least cluster\.nodeCount \(2\)/),
        );
    });
});
