/** Assertions shared by the routing tests, the transition replay and the end-to-end walk. */
import { strict as assert } from "assert";
import type { Chain } from "./expected";
import { Cluster, describe as show, followStorageClients, Outcome, routeReferenceProblems } from "./mesh";

/**
 * Expected outcomes of a user's request: chains with shares (percent, to 0.1). No outcome may be
 * refused. `context` (stage, cookie, ...) starts the failure message.
 */
export function expectPaths(outcomes: Outcome[], expected: [Chain, number][], context = "") {
    const what = `${context ? `${context}: ` : ""}${show(outcomes)}`;
    assert.deepEqual(
        outcomes.filter((o) => o.error),
        [],
        `refused: ${what}`,
    );
    const key = (x: unknown) => JSON.stringify(x);
    assert.deepEqual(
        outcomes.map((o) => key([o.path, Math.round(o.share * 1000) / 10])).sort(),
        expected.map(key).sort(),
        what,
    );
}

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

/** No route of either traffic API names a Gateway, Service, listener, port or subset that does not exist, or a backend no pod serves. */
export function expectRoutesComplete(cluster: Cluster, context: string) {
    assert.deepEqual(routeReferenceProblems(cluster), [], context);
}
