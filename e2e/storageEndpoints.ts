/**
 * The storage Service's endpoints after an up (pods that become ready, E2E_EXPECT_READY): each
 * engine's port lists that engine's pods only, exactly while the stage runs it.
 */
import { strict as assert } from "assert";
import { EXPECTED } from "../test/support/expected";
import { until } from "./clusterSetup";
import { KubeClient } from "./kube";
import { APP_NAMESPACE } from "../stages/names";

/**
 * The storage Service's endpoints, as the endpoint-slice controller computed them: port
 * tcp-redis lists only Redis pods, tcp-mysql only MySQL pods, each exactly when it runs.
 */
export async function checkStorageEndpoints(kube: KubeClient, stage: string) {
    const pods = await kube.list("Pod", APP_NAMESPACE);
    const versionOf = new Map(
        pods.map((p) => [p.metadata.name, `${p.metadata.labels?.app}@${p.metadata.labels?.version}`]),
    );
    const wanted: Record<string, string> = {
        "tcp-redis": "voting-storage@1.0",
        "tcp-mysql": "voting-storage@2.0",
    };
    const running = new Set(
        EXPECTED[stage]
            .filter((l) => l.startsWith("Deployment/voting-storage-"))
            .map((l) => `voting-storage@${l.slice(-3).replace("-", ".")}`),
    );
    const byPort = new Map<string, string[]>();
    await until(`the storage Service's endpoints at ${stage}`, 60, async () => {
        byPort.clear();
        const slices = (await kube.list("EndpointSlice", APP_NAMESPACE)).filter(
            (s) => s.metadata.labels?.["kubernetes.io/service-name"] === "voting-storage",
        );
        for (const slice of slices) {
            for (const port of slice.ports ?? []) {
                const list = byPort.get(port.name) ?? [];
                for (const ep of slice.endpoints ?? [])
                    list.push(versionOf.get(ep.targetRef?.name) ?? `unknown pod ${ep.targetRef?.name}`);
                byPort.set(port.name, list);
            }
        }
        return Object.entries(wanted).every(
            ([port, version]) => (byPort.get(port)?.length ?? 0) > 0 === running.has(version),
        )
            ? true
            : undefined;
    });
    for (const [port, version] of Object.entries(wanted)) {
        const endpoints = byPort.get(port) ?? [];
        assert.deepEqual(
            [...new Set(endpoints)],
            running.has(version) ? [version] : [],
            `${stage}: endpoints of voting-storage port ${port}`,
        );
    }
}
