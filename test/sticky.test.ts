/**
 * Sticky weighted canary (issue 10, item 1), request by request on the objects the program
 * registers: a user without the flag cookie whom the weight sends to a version gets a session
 * cookie naming it, and later requests carrying it stay on that version; the flag cookie always
 * wins; raising the weight moves users not yet on 2.0, lowering it moves users back; at weight 0,
 * and in every other stage, no cookie routes anywhere. Users are followed as sequences of requests
 * (each branch the weight can take), across weight changes and stage changes in both directions.
 *
 * The expectations are written here from that rule, not from the program's code.
 */
import { strict as assert } from "assert";
import { describe as show, followUserRequest, Outcome, withSetCookie } from "./support/mesh";
import { integerRangeRegex } from "../stages/meshManifests";
import { CANARY_COOKIE_NAME, expectedSticky } from "./support/expected";
import { TRAFFIC_APIS, TrafficApi } from "../stages/traffic/router";
import { clusterOf, runStageIn } from "./support/runs";

const COOKIE = CANARY_COOKIE_NAME;

/** Where the user's request goes at a stage (and weight) in one traffic API, and the cookie the response sets. */
async function visitIn(api: TrafficApi, stage: string, weight: number, cookie?: string): Promise<Outcome[]> {
    const outcomes = followUserRequest(
        clusterOf(await runStageIn(api, stage, { canaryWeight: String(weight) })),
        cookie,
    );
    assert.deepEqual(
        outcomes.filter((o) => o.error),
        [],
        `${stage}@${weight}, cookie ${cookie}: ${show(outcomes)}`,
    );
    return outcomes;
}

/** The app versions reached with their shares (percent), and the canary cookie the response sets per version. */
function summary(outcomes: Outcome[]): { shares: Record<string, number>; sets: Record<string, string | undefined> } {
    const shares: Record<string, number> = {};
    const sets: Record<string, string | undefined> = {};
    for (const o of outcomes) {
        shares[o.path.app] = Math.round(((shares[o.path.app] ?? 0) + o.share * 100) * 10) / 10;
        sets[o.path.app] = o.setCookie?.split(";")[0];
    }
    return { shares, sets };
}

/** The rule (test/support/expected.ts), as app versions with their shares and the cookie set per version. */
function expected(stage: string, weight: number, cookie?: string) {
    const { chains, setCookie } = expectedSticky(stage, weight, cookie);
    const shares: Record<string, number> = {};
    const sets: Record<string, string | undefined> = {};
    for (const [chain, share] of chains) {
        shares[chain.app] = (shares[chain.app] ?? 0) + share;
        sets[chain.app] = setCookie[chain.app] || undefined;
    }
    return { shares, sets };
}

/** One user's journey in one traffic API: at each step, every branch the weight can send them down, held to the rule. */
async function journeyIn(api: TrafficApi, steps: [string, number][], start?: string): Promise<number> {
    let users: { cookie?: string; history: string }[] = [{ cookie: start, history: "" }];
    let checked = 0;
    for (const [stage, weight] of steps) {
        const next: typeof users = [];
        for (const user of users) {
            const outcomes = await visitIn(api, stage, weight, user.cookie);
            assert.deepEqual(
                summary(outcomes),
                expected(stage, weight, user.cookie),
                `${user.history} -> ${stage}@${weight} with cookie ${JSON.stringify(user.cookie)}: ${show(outcomes)}`,
            );
            checked++;
            for (const version of new Set(outcomes.map((o) => o.path.app))) {
                const setCookie = outcomes.find((o) => o.path.app === version)?.setCookie;
                next.push({
                    cookie: withSetCookie(user.cookie, setCookie),
                    history: `${user.history} -> ${stage}@${weight}: ${version}`,
                });
            }
        }
        // Branches that hold the same cookie behave the same from here on.
        users = [...new Map(next.map((u) => [u.cookie ?? "", u])).values()];
    }
    return checked;
}

for (const trafficApi of TRAFFIC_APIS)
    describe(`sticky weighted canary: one user's requests in sequence${trafficApi === "istio" ? "" : ` (traffic.api=${trafficApi})`}`, () => {
        const visit = (stage: string, weight: number, cookie?: string) => visitIn(trafficApi, stage, weight, cookie);
        const journey = (steps: [string, number][], start?: string) => journeyIn(trafficApi, steps, start);

        it("the route that picks a version by weight sets a session cookie naming it; with it, the user stays", async () => {
            const first = await visit("canary", 30);
            assert.deepEqual(summary(first), expected("canary", 30));
            for (const o of first) {
                assert.match(
                    o.setCookie ?? "",
                    new RegExp(`^${COOKIE}=${o.path.app.replace(".", "\\.")}-w30; Path=/; HttpOnly; SameSite=Lax$`),
                );
                const again = await visit("canary", 30, withSetCookie("session=abc", o.setCookie));
                assert.deepEqual(summary(again), { shares: { [o.path.app]: 100 }, sets: { [o.path.app]: undefined } });
            }
        });

        it("the flag cookie always wins over the canary cookie", async () => {
            for (const held of [`${COOKIE}=1.0-w30`, `${COOKIE}=1.0-w90`])
                for (const cookie of [`${held}; featureflag=on`, `featureflag=on; ${held}`])
                    assert.deepEqual(summary(await visit("canary", 30, cookie)), {
                        shares: { "2.0": 100 },
                        sets: { "2.0": undefined },
                    });
        });

        it("raising the weight keeps 2.0's users and moves more of the others; lowering it moves users back", async () => {
            const checked = await journey([
                ["canary", 10],
                ["canary", 10],
                ["canary", 25],
                ["canary", 50],
                ["canary", 50],
                ["canary", 25],
                ["canary", 99],
            ]);
            assert.ok(checked > 7, `${checked} visits`);
            // A user on 2.0 since weight 10 stays there at 25 and 50; one on 1.0 since 50 stays at 25.
            assert.deepEqual(summary(await visit("canary", 50, `${COOKIE}=2.0-w10`)).shares, { "2.0": 100 });
            assert.deepEqual(summary(await visit("canary", 25, `${COOKIE}=1.0-w50`)).shares, { "1.0": 100 });
            // One on 1.0 since 10 is picked again at 25; one on 2.0 since 50 is picked again at 25.
            assert.deepEqual(summary(await visit("canary", 25, `${COOKIE}=1.0-w10`)).shares, { "1.0": 75, "2.0": 25 });
            assert.deepEqual(summary(await visit("canary", 25, `${COOKIE}=2.0-w50`)).shares, { "1.0": 75, "2.0": 25 });
        });

        it("weight 0 and 100, and every other stage: no cookie routes anywhere and none is set", async () => {
            for (const cookie of [`${COOKIE}=2.0-w30`, `${COOKIE}=1.0-w30`, `a=1; ${COOKIE}=2.0-w1`, undefined]) {
                for (const [stage, weight] of [
                    ["canary", 0],
                    ["canary", 100],
                    ["deploy", 30],
                    ["update", 30],
                    ["lockdown", 30],
                    ["finalize", 30],
                ] as [string, number][])
                    assert.deepEqual(
                        summary(await visit(stage, weight, cookie)),
                        expected(stage, weight, cookie),
                        `${stage}@${weight} ${cookie}`,
                    );
            }
        });

        it("across stage changes both ways: lockdown -> canary 30 -> finalize -> canary 30 -> canary 0 -> lockdown -> canary 30", async () => {
            const checked = await journey([
                ["lockdown", 0],
                ["canary", 30],
                ["finalize", 0],
                ["canary", 30],
                ["canary", 0],
                ["lockdown", 0],
                ["canary", 30],
            ]);
            assert.ok(checked >= 7, `${checked} visits`);
        });

        it("a cookie from a weight the regex must not take (w0, w100, w300, garbage) is picked again", async () => {
            for (const value of ["2.0-w0", "2.0-w100", "2.0-w300", "2.0-w3x", "3.0-w10", "2.0"])
                assert.deepEqual(
                    summary(await visit("canary", 30, `${COOKIE}=${value}`)),
                    expected("canary", 30),
                    value,
                );
        });
    });

describe("the canary cookie's weight ranges (integerRangeRegex)", () => {
    it("matches exactly the integers from..to, for every range within 1..99", () => {
        const candidates = [...Array.from({ length: 121 }, (_, i) => String(i)), "05", "007", "1x", "", "3 "];
        for (let from = 1; from <= 99; from++)
            for (let to = from; to <= 99; to++) {
                const regex = new RegExp(`^(?:${integerRangeRegex(from, to)})$`);
                for (const c of candidates) {
                    const wanted = /^[1-9][0-9]?$/.test(c) && Number(c) >= from && Number(c) <= to;
                    assert.equal(
                        regex.test(c),
                        wanted,
                        `${from}..${to} (${integerRangeRegex(from, to)}) on ${JSON.stringify(c)}`,
                    );
                }
            }
        assert.equal(integerRangeRegex(1, 30), "[1-9]|[1-2][0-9]|30");
        assert.equal(integerRangeRegex(30, 99), "[3-9][0-9]");
        assert.throws(() => integerRangeRegex(0, 5), /not within 1..99/);
    });
});
