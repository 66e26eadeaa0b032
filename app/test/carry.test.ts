// The Redis → MySQL carry (`node dist/carry.js`, what the migration Job runs) against the real
// Redis and MariaDB: seeding, idempotency, votes on both chains during carries, two carries at
// once, kills between reading Redis and COMMIT, resets, unreachable stores, Istio's quit call.
// The stages and rollbacks are in carry-stages.test.ts.

import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { after, before, beforeEach, describe, test } from "node:test";
import { CREATE_CARRIED_TABLE_SQL } from "../src/carryVotes";
import { CREATE_TABLE_SQL } from "../src/store";
import {
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
import { APP_ROOT, freePort, Running, services, sleep, startComponent, vote, waitUntil } from "./helpers";

const add = (a: Counts, b: Counts): Counts => ({ Cats: a["Cats"]! + b["Cats"]!, Dogs: a["Dogs"]! + b["Dogs"]! });

describe("carry: Redis → MySQL", () => {
    let stores: Stores;
    const apps: Running[] = [];

    /** App 1.0 on the suite's Redis or 2.0 on MariaDB (a vote needs no analytics). */
    const app = async (version: "1.0" | "2.0"): Promise<Running> => {
        const running = await startComponent("app", version, { ANALYTICS_HOST: "127.0.0.1", ANALYTICS_PORT: "9" });
        apps.push(running);
        return running;
    };

    before(async () => {
        await services("start-redis");
        await services("start-mysql");
        stores = new Stores(redisClient(), mysqlPool());
        await stores.redis.connect();
    });

    beforeEach(async () => {
        await Promise.all(apps.splice(0).map((a) => a.stop("SIGKILL")));
        await stores.clear();
    });

    after(async () => {
        await Promise.all(apps.splice(0).map((a) => a.stop("SIGKILL")));
        await stores.close();
    });

    test("sql/init.sql creates the tables exactly as the code does", () => {
        const norm = (sql: string): string =>
            sql
                .replace(/\s+/g, " ")
                .replace(/\s*;\s*$/, "")
                .trim();
        const statements = fs
            .readFileSync(path.join(APP_ROOT, "sql", "init.sql"), "utf8")
            .split("\n")
            .filter((l) => !l.startsWith("--"))
            .join("\n")
            .split(";")
            .map(norm)
            .filter((s) => s !== "");
        assert.deepEqual(statements, [norm(CREATE_TABLE_SQL), norm(CREATE_CARRIED_TABLE_SQL)]);
    });

    test("seed: every Redis vote reaches an empty MySQL (no watermark table yet); a second run carries 0", async () => {
        await stores.redis.hset("votes", { Cats: 41, Dogs: 59 });
        const first = await carry();
        assert.equal(first.level, "info");
        assert.equal(first.msg, "carry: 100 vote(s) carried from redis to mysql");
        assert.deepEqual(first.carried, { Cats: 41, Dogs: 59 });
        assert.equal(first.total, 100);
        assert.deepEqual(await stores.mysqlCounts(), { Cats: 41, Dogs: 59 });
        assert.deepEqual(await stores.watermarks(), { Cats: 41, Dogs: 59 });

        const second = await carry();
        assert.deepEqual(second.carried, { Cats: 0, Dogs: 0 });
        assert.equal(second.total, 0);
        assert.deepEqual(await stores.mysqlCounts(), { Cats: 41, Dogs: 59 });
        assert.deepEqual(await stores.redisCounts(), { Cats: 41, Dogs: 59 }, "Redis is only read");
    });

    test("votes on both chains (app 1.0 on Redis, 2.0 on MySQL) while carries run, two at once too: exact", async (t) => {
        const [v1, v2] = await Promise.all([app("1.0"), app("2.0")]);
        const ledger = new Ledger();
        // both chains vote without pause until the carries below are done
        let voting = true;
        const stream = async (chain: Running, which: "v1" | "v2"): Promise<void> => {
            while (voting) await castVotes(chain, which, ledger, 40, 8);
        };
        const votes = Promise.all([stream(v1, "v1"), stream(v2, "v2")]);
        const lines: CarryLine[] = [];
        for (let i = 0; i < 6; i++) {
            // every third round two carries race each other
            lines.push(...(await Promise.all(i % 3 === 2 ? [carry(), carry()] : [carry()])));
        }
        voting = false;
        await votes;
        lines.push(await carry());

        assert.ok(
            lines.slice(0, -1).filter((l) => l.total > 0).length >= 3,
            `carries that took votes while 1.x was voting: ${lines.map((l) => l.total).join(", ")}`,
        );
        t.diagnostic(
            `votes: 1.x ${ledger.total("v1")}, 2.0 ${ledger.total("v2")}; carried per run: ${lines.map((l) => l.total).join(", ")}`,
        );
        assert.deepEqual(await stores.redisCounts(), ledger.v1);
        assert.deepEqual(await stores.mysqlCounts(), ledger.expected());
        // every 1.x vote was carried by exactly one carry
        const carried = lines.reduce<Counts>((sum, l) => add(sum, l.carried), { Cats: 0, Dogs: 0 });
        assert.deepEqual(carried, ledger.v1);
    });

    test("a carry waits for a running one's lock and reads Redis only after its COMMIT", async () => {
        await stores.redis.hset("votes", { Cats: 10, Dogs: 20 });
        // A holds the watermark lock, Redis read (10, 20), and sleeps before writing
        const a = startCarry({ CARRY_TEST_PAUSE_AT: "after-read", CARRY_TEST_PAUSE_MS: "2500" });
        await waitUntil("A paused after reading Redis", async () => a.stderr().includes("test hook: pausing"));
        await stores.redis.hincrby("votes", "Cats", 3); // 1.x votes A did not see
        await stores.redis.hincrby("votes", "Dogs", 4);
        const b = startCarry();
        const [ra, rb] = await Promise.all([a.done, b.done]);
        assert.equal(ra.code, 0, ra.stderr);
        assert.equal(rb.code, 0, rb.stderr);
        assert.deepEqual(ra.line!.carried, { Cats: 10, Dogs: 20 });
        // B found A's committed watermark, so it locked after A's COMMIT, and read Redis after it
        assert.deepEqual(
            rb.line!.candidates.map((c) => c.carriedBefore),
            [10, 20],
        );
        assert.deepEqual(rb.line!.carried, { Cats: 3, Dogs: 4 });
        assert.deepEqual(await stores.mysqlCounts(), { Cats: 13, Dogs: 24 });
    });

    for (const at of ["after-read", "before-commit"]) {
        test(`SIGKILL ${at === "after-read" ? "after reading Redis" : "after every write, before COMMIT"}: nothing changed; the re-run is exact`, async () => {
            await stores.redis.hset("votes", { Cats: 5, Dogs: 5 });
            await carry();
            await stores.db.query("UPDATE votes SET count = count + 2"); // 2.0 votes since
            await stores.redis.hincrby("votes", "Cats", 7); // 1.x votes since
            await stores.redis.hincrby("votes", "Dogs", 1);
            const before = await stores.mysqlCounts();
            const marks = await stores.watermarks();
            assert.deepEqual(before, { Cats: 7, Dogs: 7 });

            const p = startCarry({ CARRY_TEST_PAUSE_AT: at, CARRY_TEST_PAUSE_MS: "60000" });
            await waitUntil(`carry paused ${at}`, async () => p.stderr().includes("test hook: pausing"));
            p.proc.kill("SIGKILL");
            const killed = await p.done;
            assert.equal(killed.signal, "SIGKILL");
            assert.deepEqual(await stores.mysqlCounts(), before, "the killed carry's writes were rolled back");
            assert.deepEqual(await stores.watermarks(), marks);

            const line = await carry(); // waits for the dead connection's lock to go, if need be
            assert.deepEqual(line.carried, { Cats: 7, Dogs: 1 });
            assert.deepEqual(await stores.mysqlCounts(), { Cats: 14, Dogs: 8 });
            assert.deepEqual((await carry()).carried, { Cats: 0, Dogs: 0 });
        });
    }

    test("SIGKILL at random moments, 15 times, votes on both stores in between: exact after one more run", async (t) => {
        const ledger = new Ledger();
        const outcomes = { killed: 0, finished: 0 };
        for (let i = 0; i < 15; i++) {
            const c1 = 1 + Math.floor(Math.random() * 5);
            const d1 = Math.floor(Math.random() * 5);
            await stores.redis.hincrby("votes", "Cats", c1); // as app 1.0 votes
            await stores.redis.hincrby("votes", "Dogs", d1);
            ledger.v1["Cats"]! += c1;
            ledger.v1["Dogs"]! += d1;
            await stores.db.query(
                "INSERT INTO votes (candidate, count) VALUES ('Dogs', 1) ON DUPLICATE KEY UPDATE count = count + 1",
            ); // as app 2.0 votes
            ledger.v2["Dogs"]! += 1;
            // Killed at a random moment around a short pause inside the transaction (node's start-up
            // alone outlasts an unpaused carry): while paused, or as it writes, commits or exits.
            const at = Math.random() < 0.5 ? "after-read" : "before-commit";
            const p = startCarry({ CARRY_TEST_PAUSE_AT: at, CARRY_TEST_PAUSE_MS: "150" });
            await waitUntil(
                `carry paused ${at}`,
                async () => p.stderr().includes("test hook: pausing") || p.proc.exitCode !== null,
            );
            await sleep(Math.random() * 250);
            p.proc.kill("SIGKILL");
            const r = await p.done;
            if (r.signal === "SIGKILL") outcomes.killed++;
            else outcomes.finished++;
        }
        t.diagnostic(`random kills: ${outcomes.killed} killed mid-way, ${outcomes.finished} finished first`);
        assert.ok(outcomes.killed > 0, "at least one carry was killed mid-way (else this test proves nothing)");
        await carry();
        assert.deepEqual(await stores.mysqlCounts(), ledger.expected());
        assert.deepEqual((await carry()).total, 0);
    });

    test("1.x reset (app 1.0's Reset): the next carry adds the votes since it; those between the last carry and the reset are wiped", async () => {
        const v1 = await app("1.0");
        const cast = async (c: string, n: number): Promise<void> => {
            for (let i = 0; i < n; i++) assert.equal((await vote(v1.url, c)).status, 303);
        };
        await cast("Cats", 3);
        await cast("Dogs", 2);
        assert.deepEqual((await carry()).carried, { Cats: 3, Dogs: 2 });
        await cast("Cats", 4); // never carried: the reset below wipes them
        assert.equal((await vote(v1.url, "reset")).status, 303);
        assert.equal(await stores.redis.get("votes:resets"), "1", "a reset counts itself");
        await cast("Cats", 6); // more than the watermark (3): only the reset counter tells
        await cast("Dogs", 1);
        const line = await carry();
        assert.deepEqual(line.carried, { Cats: 6, Dogs: 1 });
        assert.deepEqual(
            line.candidates.map((c) => c.reason),
            ["redis reset", "redis reset"],
        );
        assert.deepEqual(await stores.mysqlCounts(), { Cats: 9, Dogs: 3 });
        assert.equal((await carry()).total, 0);
    });

    test("a Redis count below the watermark without a reset counted (older image, hand-made HSET, lost data): that count is carried", async () => {
        await stores.redis.hset("votes", { Cats: 10, Dogs: 4 });
        await carry();
        await stores.redis.hset("votes", { Cats: 2 }); // not through the app: votes:resets unchanged
        const line = await carry();
        assert.deepEqual(line.carried, { Cats: 2, Dogs: 0 });
        assert.equal(line.candidates[0]!.reason, "redis count below watermark");
        assert.deepEqual(await stores.mysqlCounts(), { Cats: 12, Dogs: 4 });
        assert.deepEqual(await stores.watermarks(), { Cats: 2, Dogs: 4 });
    });

    test("2.0 reset (app 2.0's Reset) wipes MySQL's counts, carried ones too; the watermark stays", async () => {
        const v2 = await app("2.0");
        await stores.redis.hset("votes", { Cats: 5, Dogs: 5 });
        await carry();
        assert.equal((await vote(v2.url, "reset")).status, 303);
        assert.deepEqual(await stores.mysqlCounts(), { Cats: 0, Dogs: 0 });
        assert.equal((await carry()).total, 0, "carried votes are not brought back");
        await stores.redis.hincrby("votes", "Cats", 2);
        assert.deepEqual((await carry()).carried, { Cats: 2, Dogs: 0 });
        assert.deepEqual(await stores.mysqlCounts(), { Cats: 2, Dogs: 0 });
    });

    describe("failures", () => {
        test("Redis unreachable after a seed → exit 1, loudly (1.x's votes since would be lost), MySQL untouched", async () => {
            await stores.redis.hset("votes", { Cats: 2 });
            assert.deepEqual((await carry()).carried, { Cats: 2, Dogs: 0 }); // the seed
            await stores.db.query("UPDATE votes SET count = count + 1 WHERE candidate = 'Cats'"); // 2.0 votes
            const port = await freePort();
            const r = await startCarry({ REDIS_PORT: String(port), CARRY_TIMEOUT_MS: "1200" }).done;
            assert.equal(r.code, 1);
            assert.equal(r.stdout, "");
            assert.match(
                r.stderr,
                new RegExp(
                    `"carry failed: redis at 127\\.0\\.0\\.1:${port} unreachable: connect ECONNREFUSED[^"]*; ` +
                        `mysql was seeded from redis \\(last carry \\d{4}-\\d\\d-\\d\\d [\\d:.]+, not a final one\\), so the votes 1\\.x took since would be lost`,
                ),
            );
            assert.match(r.stderr, /carry attempt 1 failed, retrying in 250 ms/, "it retried first");
            assert.deepEqual(await stores.mysqlCounts(), { Cats: 3, Dogs: 0 });
            assert.deepEqual(await stores.watermarks(), { Cats: 2, Dogs: 0 });
        });

        test("Redis unreachable, MySQL never seeded from it (a stack brought up at finalize) → exit 0, nothing to carry, said so", async () => {
            const port = await freePort();
            const expectNothing = async (where: string): Promise<void> => {
                const r = await startCarry({ REDIS_PORT: String(port), CARRY_TIMEOUT_MS: "1200" }).done;
                assert.equal(r.code, 0, `${where}: ${r.stderr}`);
                assert.match(r.stderr, /carry attempt 1 failed, retrying in 250 ms/, `${where}: it retried first`);
                assert.equal(
                    r.line!.msg,
                    "carry: nothing to carry: redis never seeded mysql and does not answer (no Redis ever ran)",
                );
                assert.deepEqual(r.line!.carried, { Cats: 0, Dogs: 0 });
                assert.equal(r.line!.total, 0);
                assert.equal((r.line as unknown as { seeded: boolean }).seeded, false);
                assert.deepEqual(await stores.mysqlCounts(), { Cats: 3, Dogs: 0 }, `${where}: MySQL untouched`);
            };
            await stores.db.query("INSERT INTO votes (candidate, count) VALUES ('Cats', 3)"); // 2.0's own votes
            await expectNothing("no watermark table (a database made before the carry)");
            await stores.db.query(CREATE_CARRIED_TABLE_SQL);
            await expectNothing("the table init.sql makes, empty");
            await stores.db.query("INSERT INTO carried_from_redis (candidate) VALUES ('Cats'), ('Dogs')");
            await expectNothing("watermark rows of a carry that never committed");
            // Control: once a carry committed, the same unreachable Redis is a failure.
            await stores.db.query("UPDATE carried_from_redis SET carried_at = CURRENT_TIMESTAMP(3)");
            const seeded = await startCarry({ REDIS_PORT: String(port), CARRY_TIMEOUT_MS: "0" }).done;
            assert.equal(seeded.code, 1, seeded.stdout);
            assert.match(seeded.stderr, /mysql was seeded from redis/);
        });

        test("Redis unreachable after a final carry (finalize's Job run again once Redis is gone) → exit 0, nothing left in Redis", async () => {
            await stores.redis.hset("votes", { Cats: 5, Dogs: 1 });
            await carry(); // the seed (CARRY_MODE defaults to seed)
            await stores.redis.hincrby("votes", "Dogs", 2); // 1.x during the canary
            assert.deepEqual((await carry({ CARRY_MODE: "final" })).carried, { Cats: 0, Dogs: 2 });
            const port = await freePort();
            const r = await startCarry({ REDIS_PORT: String(port), CARRY_MODE: "final", CARRY_TIMEOUT_MS: "600" }).done;
            assert.equal(r.code, 0, r.stderr);
            assert.match(
                r.line!.msg,
                /^carry: nothing to carry: redis does not answer, and the final carry ran at \d{4}-\d\d-\d\d [\d:.]+ \(Redis stops after it\)$/,
            );
            assert.deepEqual(r.line!.carried, { Cats: 0, Dogs: 0 });
            assert.deepEqual(await stores.mysqlCounts(), { Cats: 5, Dogs: 3 });
            // Control: a seed after it (a rollback to canary) makes an unreachable Redis a failure again.
            await carry({ CARRY_MODE: "seed" });
            const again = await startCarry({ REDIS_PORT: String(port), CARRY_MODE: "final", CARRY_TIMEOUT_MS: "0" })
                .done;
            assert.equal(again.code, 1, again.stdout);
            assert.match(again.stderr, /not a final one\), so the votes 1\.x took since would be lost/);
        });

        test("Redis unreachable and MySQL unreachable → exit 1 (whether MySQL was seeded cannot be known)", async () => {
            const [redisPort, mysqlPort] = [await freePort(), await freePort()];
            const r = await startCarry({
                REDIS_PORT: String(redisPort),
                MYSQL_PORT: String(mysqlPort),
                CARRY_TIMEOUT_MS: "0",
            }).done;
            assert.equal(r.code, 1);
            assert.equal(r.stdout, "");
            assert.match(
                r.stderr,
                /carry failed: redis at .* unreachable.*asking MySQL whether it was ever seeded failed/,
            );
        });

        test("MySQL unreachable → exit 1 naming it; wrong password → exit 1 with MySQL's answer", async () => {
            const port = await freePort();
            const down = await startCarry({ MYSQL_PORT: String(port), CARRY_TIMEOUT_MS: "0" }).done;
            assert.equal(down.code, 1);
            assert.match(
                down.stderr,
                new RegExp(`"carry failed: mysql at 127\\.0\\.0\\.1:${port}/votes unreachable: connect ECONNREFUSED`),
            );
            const denied = await startCarry({ MYSQL_PASSWORD: "wrong", CARRY_TIMEOUT_MS: "0" }).done;
            assert.equal(denied.code, 1);
            assert.match(denied.stderr, /carry failed: mysql at .*Access denied for user 'voting'/);
        });

        test("a store still starting: the carry retries until it answers (bounded by CARRY_TIMEOUT_MS)", async () => {
            const late = new PersistentRedis();
            try {
                await late.start();
                const seed = redisClient(late.port);
                await seed.connect();
                await seed.hset("votes", { Cats: 4 });
                seed.disconnect();
                await late.stop();
                const p = startCarry({ REDIS_PORT: String(late.port), CARRY_TIMEOUT_MS: "20000" });
                await sleep(1500);
                await late.start();
                const r = await p.done;
                assert.equal(r.code, 0, r.stderr);
                assert.ok(r.line!.attempts > 1, `attempts: ${r.line!.attempts}`);
                assert.deepEqual(r.line!.carried, { Cats: 4, Dogs: 0 });
            } finally {
                await late.remove();
            }
        });

        test("bad settings → exit 2 with the message", async () => {
            const r = await startCarry({ VOTE1VALUE: "reset" }).done;
            assert.equal(r.code, 2);
            assert.match(r.stderr, /^voting-carry: configuration error: VOTE1VALUE must not be "reset"/);
            const mode = await startCarry({ CARRY_MODE: "last" }).done;
            assert.equal(mode.code, 2);
            assert.match(mode.stderr, /CARRY_MODE must be one of seed, final, got "last"/);
            const pause = await startCarry({ CARRY_TEST_PAUSE_AT: "sometime" }).done;
            assert.equal(pause.code, 2);
            assert.match(pause.stderr, /CARRY_TEST_PAUSE_AT must be one of after-read, before-commit/);
        });
    });

    test("Istio: POST /quitquitquit on exit 0, 1 and 2; none with ISTIO_QUIT_ON_EXIT=false; nobody listening is fine", async () => {
        const seen: string[] = [];
        const agent = http.createServer((req, res) => {
            seen.push(`${req.method} ${req.url}`);
            res.end("OK");
        });
        await new Promise<void>((r) => agent.listen(0, "127.0.0.1", r));
        const url = `http://127.0.0.1:${(agent.address() as AddressInfo).port}/quitquitquit`;
        try {
            const on = { ISTIO_QUIT_ON_EXIT: "true", ISTIO_QUIT_URL: url };
            assert.equal((await startCarry(on).done).code, 0);
            assert.deepEqual(seen.splice(0), ["POST /quitquitquit"]);
            const failed = await startCarry({ ...on, REDIS_PORT: String(await freePort()), CARRY_TIMEOUT_MS: "0" })
                .done;
            assert.equal(failed.code, 1);
            assert.deepEqual(seen.splice(0), ["POST /quitquitquit"], "also on failure, or the pod never ends");
            assert.equal((await startCarry({ ...on, VOTE2VALUE: "cats" }).done).code, 2);
            assert.deepEqual(seen.splice(0), ["POST /quitquitquit"]);
            assert.equal((await startCarry({ ...on, ISTIO_QUIT_ON_EXIT: "false" }).done).code, 0);
            assert.deepEqual(seen, []);
        } finally {
            await new Promise((r) => agent.close(r));
        }
        // the default (on) with no pilot-agent listening: refused at once, exit 0
        const nobody = `http://127.0.0.1:${await freePort()}/quitquitquit`;
        const r = await startCarry({ ISTIO_QUIT_ON_EXIT: "", ISTIO_QUIT_URL: nobody }).done;
        assert.equal(r.code, 0, r.stderr);
    });
});
