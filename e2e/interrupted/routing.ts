/**
 * Routing on a state between two stages (an interrupted up's), read back from the API server:
 * `checkRoutingBetween` follows each request a user can make through the stored objects and holds
 * it to the unit suite's expectations for every state of a stage change (test/transitions.test.ts).
 */
import { strict as assert } from "assert";
import { isDeepStrictEqual } from "util";
import { expectRoutesComplete, expectStorageClientsServed } from "../../test/support/checks";
import { Chain, expectedSticky, FLAG, NO_FLAG, STICKY_COOKIES } from "../../test/support/expected";
import { followUserRequest, describe as show } from "../../test/support/mesh";
import { clusterOfObjects } from "../../test/support/runs";
import { gatewayName, gatewayNamespace } from "../harness";
import { KubeObject } from "../kube";
import { StageName } from "../../stages/model";

/**
 * Routing on a state between two stages, request by request: each request a user can make is
 * served (none refused) by a complete chain of the stage before or of the stage after, whose
 * versions never mix 1.x and 2.0 (test/transitions.test.ts); every route of either API complete;
 * every storage client on its own engine.
 */
export function checkRoutingBetween(
    objects: KubeObject[],
    from: StageName,
    to: StageName,
    weight: number,
    what: string,
) {
    const cluster = clusterOfObjects(objects, gatewayName, gatewayNamespace);
    expectRoutesComplete(cluster, `${what}: routes naming what does not exist`);
    expectStorageClientsServed(cluster, `${what}, on the stored objects`);
    for (const cookie of [undefined, ...NO_FLAG, ...FLAG, ...STICKY_COOKIES]) {
        const outcomes = followUserRequest(cluster, cookie);
        const context = `${what}, cookie ${cookie}: ${show(outcomes)}`;
        assert.deepEqual(
            outcomes.filter((o) => o.error),
            [],
            `refused: ${context}`,
        );
        const either: Chain[] = [
            ...expectedSticky(from, weight, cookie).chains,
            ...expectedSticky(to, weight, cookie).chains,
        ].map(([chain]) => chain);
        for (const o of outcomes) {
            const chains = new Set(Object.values(o.path).map((v) => v[0]));
            assert.equal(chains.size, 1, `${context}: chains cross`);
            assert.ok(
                either.some((c) => isDeepStrictEqual(c, o.path)),
                `${context}: ${JSON.stringify(o.path)} is a chain of neither ${from} nor ${to}`,
            );
        }
    }
}
