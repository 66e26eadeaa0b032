// The rollout's stages and rollbacks, simulated over the real stores with the real components:
// 1.x = app 1.0 + analytics 1.1 on a Redis that keeps its data when stopped (the volume), 2.0 =
// app 2.0 + analytics 2.0 on MariaDB (stopped and started for real when the stage drops it). The
// carry runs where the migration Job runs: at every canary and finalize entry. The invariant is
// checked at every finalize, and a control shows the same check failing when one carry is skipped.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
    assertInvariant,
    carry,
    castVotes,
    Ledger,
    mysqlPool,
    PersistentRedis,
    redisClient,
    startCarry,
    Stores,
    type CarryLine,
    type Counts,
} from "./carry-harness";
import { request, Running, services, startComponent } from "./helpers";

type Stage = "deploy" | "update" | "lockdown" | "canary" | "finalize";

interface Chain {
    app: Running;
    analytics: Running;
}

/** What a chain shows: analytics' counts (the numbers on its results line). */
async function shown(chain: Chain): Promise<Counts> {
    const r = await request("GET", `${chain.analytics.url}/analytics`);
    assert.equal(r.status, 200, r.body);
    return (JSON.parse(r.body) as { counts: Counts }).counts;
}

/** One stack walking stages: which chains and stores run, the ledger, and the carries made. */
class Rollout {
    readonly ledger = new Ledger();
    readonly carries: Array<{ stage: string; line: CarryLine }> = [];
    v1: Chain | undefined;
    v2: Chain | undefined;
    private mysqlUp = true;

    constructor(
        readonly redis: PersistentRedis,
        private readonly dropMysqlWhenUnused: boolean,
    ) {}

    private async chain(version: "1.x" | "2.0"): Promise<Chain> {
        const env: Record<string, string> = version === "1.x" ? { REDIS_PORT: String(this.redis.port) } : {};
        const analytics = await startComponent("analytics", version === "1.x" ? "1.1" : "2.0", env);
        const app = await startComponent("app", version === "1.x" ? "1.0" : "2.0", {
            ...env,
            ANALYTICS_HOST: "127.0.0.1",
            ANALYTICS_PORT: String(analytics.port),
        });
        return { app, analytics };
    }

    private async stopChain(which: "v1" | "v2"): Promise<void> {
        const chain = this[which];
        this[which] = undefined;
        if (chain) await Promise.all([chain.app.stop(), chain.analytics.stop()]);
    }

    private async carry(stage: string): Promise<CarryLine> {
        // The program's Jobs: CARRY_MODE=seed at canary, final at finalize (components/votingApp.ts).
        const line = await carry({
            REDIS_PORT: String(this.redis.port),
            CARRY_MODE: stage === "finalize" ? "final" : "seed",
        });
        this.carries.push({ stage, line });
        return line;
    }

    /** Moves to a stage the way the program does; returns the entry carry's line, if one ran. */
    async enter(stage: Stage, opts: { skipCarry?: boolean } = {}): Promise<CarryLine | undefined> {
        let line: CarryLine | undefined;
        switch (stage) {
            case "deploy":
            case "update":
            case "lockdown":
                // only the 1.x chain; storage 2.0 goes, its data stays
                await this.redis.start();
                this.v1 ??= await this.chain("1.x");
                await this.stopChain("v2");
                if (this.dropMysqlWhenUnused && this.mysqlUp) {
                    await services("stop-mysql");
                    this.mysqlUp = false;
                }
                break;
            case "canary":
                await this.redis.start();
                if (!this.mysqlUp) {
                    await services("start-mysql");
                    this.mysqlUp = true;
                }
                this.v1 ??= await this.chain("1.x");
                this.v2 ??= await this.chain("2.0");
                if (!opts.skipCarry) line = await this.carry(stage);
                break;
            case "finalize":
                this.v2 ??= await this.chain("2.0");
                // 1.x stops taking votes first, then the carry, then Redis stops (volume kept)
                await this.stopChain("v1");
                if (!opts.skipCarry) line = await this.carry(stage);
                await this.redis.stop();
                break;
        }
        return line;
    }

    /** n votes on every chain that serves, all chains at once. */
    async votes(n: number): Promise<void> {
        await Promise.all([
            this.v1 && castVotes(this.v1.app, "v1", this.ledger, n),
            this.v2 && castVotes(this.v2.app, "v2", this.ledger, n),
        ]);
    }

    async close(): Promise<void> {
        await this.stopChain("v1");
        await this.stopChain("v2");
        await this.redis.remove();
        if (!this.mysqlUp) await services("start-mysql");
    }
}

describe("carry across the stages and every rollback", () => {
    let stores: Stores;

    before(async () => {
        await services("start-redis"); // the suite's Redis: only cleared here (1.x runs on its own)
        await services("start-mysql");
        stores = new Stores(redisClient(), mysqlPool());
    });

    after(async () => {
        await services("start-mysql"); // whatever happened, leave MariaDB running for the next file
        await stores.close();
    });

    test("deploy → update → lockdown → canary → finalize → canary → lockdown → canary → finalize → finalize: 2.0 shows every vote once at each finalize", async (t) => {
        await stores.clear();
        const r = new Rollout(new PersistentRedis(), true);
        try {
            await r.enter("deploy");
            await r.votes(30);
            await r.enter("update");
            await r.votes(15);
            await r.enter("lockdown");
            await r.votes(15);
            assert.equal(r.ledger.total("v1"), 60);

            // canary: the carry seeds MySQL with every Redis vote
            const seed = await r.enter("canary");
            assert.deepEqual(seed!.carried, r.ledger.v1);
            assert.deepEqual(await shown(r.v2!), r.ledger.v1, "2.0 starts from 1.x's counts");
            await r.votes(40);

            // finalize: 1.x stops, the carry takes what 1.x took during the canary
            const v1BeforeFinalize = r.ledger.total("v1");
            const fin1 = await r.enter("finalize");
            assert.equal(fin1!.total, v1BeforeFinalize - 60, "only the canary's 1.x votes");
            assertInvariant(await shown(r.v2!), r.ledger, "finalize (entry)");
            await r.votes(30);
            assertInvariant(await shown(r.v2!), r.ledger, "finalize (after 2.0 votes)");

            // rollback to canary: Redis comes back from its volume; 1.x shows its own votes only
            // (every vote 1.x ever took, none of the votes cast on 2.0), and the carry finds nothing new
            const back = await r.enter("canary");
            assert.deepEqual(await shown(r.v1!), r.ledger.v1, "1.x shows the 1.x votes, as at finalize");
            assert.equal(back!.total, 0);
            t.diagnostic(
                `rollback to canary: 1.x shows ${JSON.stringify(await shown(r.v1!))}, 2.0 shows ${JSON.stringify(await shown(r.v2!))}`,
            );
            await r.votes(25);

            // rollback to lockdown: 2.0 and MySQL stop (data kept); 1.x goes on voting
            await r.enter("lockdown");
            assert.equal(r.v2, undefined);
            await r.votes(20);
            assert.deepEqual(await shown(r.v1!), r.ledger.v1);

            // canary again: MySQL comes back with its data, the carry takes the 1.x votes since finalize
            const v1AtFinalize1 = v1BeforeFinalize;
            const again = await r.enter("canary");
            assert.equal(again!.total, r.ledger.total("v1") - v1AtFinalize1);
            await r.votes(25);

            const fin2 = await r.enter("finalize");
            assert.ok(fin2!.total > 0);
            assertInvariant(await shown(r.v2!), r.ledger, "finalize again (entry)");
            await r.votes(20);
            assertInvariant(await shown(r.v2!), r.ledger, "finalize again (after 2.0 votes)");

            // a repeated finalize: the carry runs again (Redis up for it) and changes nothing
            await r.redis.start();
            const repeat = await carry({ REDIS_PORT: String(r.redis.port), CARRY_MODE: "final" });
            assert.equal(repeat.total, 0);
            assertInvariant(await shown(r.v2!), r.ledger, "repeated finalize");
            // ...and once Redis is gone (the Job of finalize replaced after an image change, or
            // re-created): nothing is left in Redis after the final carry, so nothing to carry
            await r.redis.stop();
            const gone = await startCarry({
                REDIS_PORT: String(r.redis.port),
                CARRY_MODE: "final",
                CARRY_TIMEOUT_MS: "300",
            }).done;
            assert.equal(gone.code, 0, gone.stderr);
            assert.match(
                gone.line!.msg,
                /^carry: nothing to carry: redis does not answer, and the final carry ran at /,
            );
            assertInvariant(await shown(r.v2!), r.ledger, "finalize's carry again, Redis gone");

            t.diagnostic(
                `carries: ${r.carries.map((c) => `${c.stage}+${c.line.total}`).join(", ")}; ` +
                    `votes: 1.x ${r.ledger.total("v1")}, 2.0 ${r.ledger.total("v2")}`,
            );
        } finally {
            await r.close();
        }
    });

    test("control: the same check fails when the finalize carry is skipped (and passes once it runs)", async () => {
        await stores.clear();
        const r = new Rollout(new PersistentRedis(), false);
        try {
            await r.enter("lockdown");
            await r.votes(20);
            await r.enter("canary");
            await r.votes(20);
            const v1DuringCanary = { ...r.ledger.v1 };
            await r.enter("finalize", { skipCarry: true });
            const shownNow = await shown(r.v2!);
            assert.throws(() => assertInvariant(shownNow, r.ledger, "finalize without its carry"), {
                name: "AssertionError",
            });
            // exactly the 1.x votes of the canary are missing
            const seeded = r.carries[0]!.line.carried;
            for (const c of ["Cats", "Dogs"]) {
                assert.equal(r.ledger.expected()[c]! - shownNow[c]!, v1DuringCanary[c]! - seeded[c]!);
            }

            // the last carry was the seed: a carry that finds no Redis now fails loudly, changing nothing
            const gone = await startCarry({
                REDIS_PORT: String(r.redis.port),
                CARRY_MODE: "final",
                CARRY_TIMEOUT_MS: "0",
            }).done;
            assert.equal(gone.code, 1, gone.stdout);
            assert.match(gone.stderr, /mysql was seeded from redis .* so the votes 1\.x took since would be lost/);
            assert.deepEqual(await shown(r.v2!), shownNow);

            // the carry, late (Redis back for it): the same check passes
            await r.redis.start();
            await carry({ REDIS_PORT: String(r.redis.port), CARRY_MODE: "final" });
            assertInvariant(await shown(r.v2!), r.ledger, "finalize after the late carry");
        } finally {
            await r.close();
        }
    });
});
