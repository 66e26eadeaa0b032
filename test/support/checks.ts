/** Assertions shared by the routing tests, the transition replay and the end-to-end walk. */
import { strict as assert } from "assert";
import { Cluster, followStorageClients } from "./mesh";

/** Every storage connection lands on the engine its client speaks, on the port it uses. */
export function expectStorageClientsServed(cluster: Cluster, context: string) {
    const connections = followStorageClients(cluster);
    const wrong = connections.filter((c) => c.error);
    assert.deepEqual(
        wrong.map((c) => `${c.client} -> ${c.engine}:${c.port}: ${(c.share * 100).toFixed(0)}% ${c.error}`),
        [],
        context,
    );
    return connections;
}
