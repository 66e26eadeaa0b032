// Entry point of the Redis → MySQL vote carry: `node dist/carry.js` (the migration Job runs the
// app's image with this command). The operation itself is carryVotes.ts.
//
// Exit codes: 0 carried (one JSON line on stdout says what), 1 a store stayed unreachable or
// failed for CARRY_TIMEOUT_MS (every attempt is a whole carry, safe to repeat), 2 bad settings.
//
// Redis unreachable for all of CARRY_TIMEOUT_MS is decided by what MySQL remembers:
// - MySQL was never seeded from Redis (no carry ever committed: a stack brought up directly at
//   finalize, where no Redis ever ran): there is nothing to carry, exit 0, and the JSON line says
//   so (`redis: "unreachable"`, `seeded: false`);
// - the last carry that committed was a final one (CARRY_MODE=final, finalize's Job): Redis stops
//   only after that carry completed and users stopped reaching 1.x before it, so Redis holds
//   nothing more: exit 0, said so (`redis: "unreachable"`, `afterFinal: true`). This is the Job
//   of finalize run again once Redis is gone (replaced after an image change, re-created after
//   someone deleted it);
// - a seed committed last (`carried_from_redis.carried_at`, `final_carry` 0): the votes 1.x took
//   since that carry are in a Redis that does not answer, so exit 1, loudly: stopping Redis now
//   would lose them.
// Before exiting, with any code, it asks Istio's pilot-agent to quit (best effort), so that a
// classic sidecar does not keep the Job's pod running.

import http from "node:http";
import Redis from "ioredis";
import mysql from "mysql2/promise";
import { CARRIED_TABLE, carryVotes, CarryDataError, type CarryHooks, type CarryResult } from "./carryVotes";
import { ConfigError, loadCarryConfig, type CarryConfig } from "./config";
import { log } from "./log";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Redis did not answer a PING: refused, reset, closed by a proxy with no endpoint behind it. */
class RedisUnreachableError extends Error {
    override readonly name = "RedisUnreachableError";
}

const mysqlOptions = (config: CarryConfig): mysql.ConnectionOptions => ({
    host: config.mysql.host,
    port: config.mysql.port,
    user: config.mysql.user,
    password: config.mysql.password,
    database: config.mysql.database,
    connectTimeout: 2000,
    supportBigNumbers: true,
    bigNumberStrings: false,
});

/** One attempt: fresh connections, one carry, connections closed whatever happens. */
async function attempt(config: CarryConfig, hooks: CarryHooks): Promise<CarryResult> {
    const redisAddress = `${config.redis.host}:${config.redis.port}`;
    const mysqlAddress = `${config.mysql.host}:${config.mysql.port}/${config.mysql.database}`;
    const redis = new Redis({
        host: config.redis.host,
        port: config.redis.port,
        lazyConnect: true,
        connectTimeout: 2000,
        commandTimeout: 5000,
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        autoResendUnfulfilledCommands: false,
        retryStrategy: () => null, // this loop retries, not the client
    });
    let redisError: Error | undefined; // the socket's error says more than "Connection is closed."
    redis.on("error", (err: Error) => (redisError = err));
    let conn: mysql.Connection | undefined;
    try {
        try {
            // A sidecar accepts the connection even when no Redis is behind the Service, then
            // closes it: only an answer proves Redis is there.
            await redis.connect();
            await redis.ping();
        } catch (err) {
            throw new RedisUnreachableError(
                `redis at ${redisAddress} unreachable: ${(redisError ?? (err as Error)).message}`,
                { cause: err },
            );
        }
        try {
            conn = await mysql.createConnection(mysqlOptions(config));
        } catch (err) {
            throw new Error(`mysql at ${mysqlAddress} unreachable: ${(err as Error).message}`, { cause: err });
        }
        conn.on("error", () => undefined); // reported through the failing query
        return await carryVotes(conn, mysqlAddress, redis, redisAddress, config.candidates, config.mode, hooks);
    } finally {
        conn?.destroy();
        redis.disconnect();
    }
}

/**
 * When MySQL last committed a carry from Redis (`carried_from_redis.carried_at`), or null when it
 * never did (no such table, no row, no timestamp). Throws when MySQL cannot be asked.
 */
async function lastCarry(config: CarryConfig): Promise<{ at: string; final: boolean } | null> {
    const mysqlAddress = `${config.mysql.host}:${config.mysql.port}/${config.mysql.database}`;
    let conn: mysql.Connection | undefined;
    try {
        conn = await mysql.createConnection({ ...mysqlOptions(config), dateStrings: true });
        conn.on("error", () => undefined);
        const [rows] = await conn.query<mysql.RowDataPacket[]>({
            // Every row is written by every carry, so the rows agree; MIN: final only if all say so.
            sql: `SELECT MAX(carried_at) AS last, MIN(final_carry) AS final FROM ${CARRIED_TABLE} WHERE carried_at IS NOT NULL`,
            timeout: 15_000,
        });
        const last = rows[0]?.["last"] as string | null | undefined;
        return last ? { at: last, final: Number(rows[0]!["final"]) === 1 } : null;
    } catch (err) {
        if ((err as { errno?: number }).errno === NO_SUCH_TABLE) return null;
        throw new Error(`mysql at ${mysqlAddress}: ${(err as Error).message}`, { cause: err });
    } finally {
        conn?.destroy();
    }
}

/** ER_NO_SUCH_TABLE: a database initialised before the carry existed, never carried into. */
const NO_SUCH_TABLE = 1146;

/** Best effort: POST pilot-agent's /quitquitquit (a refused connection or any error is ignored). */
function quitIstio(enabled: boolean, url: string): Promise<void> {
    if (!enabled) return Promise.resolve();
    return new Promise((resolve) => {
        const req = http.request(url, { method: "POST", timeout: 1000 }, (res) => {
            res.resume();
            res.on("end", resolve);
            res.on("error", () => resolve());
        });
        req.on("timeout", () => req.destroy());
        req.on("error", () => resolve());
        req.end();
    });
}

function testHooks(config: CarryConfig): CarryHooks {
    const pause = config.testPause;
    if (!pause) return {};
    const hook = async (): Promise<void> => {
        log("warn", `test hook: pausing ${pause.ms} ms at ${pause.at} (CARRY_TEST_PAUSE_AT is for tests only)`);
        await sleep(pause.ms);
    };
    return pause.at === "after-read" ? { afterRead: hook } : { beforeCommit: hook };
}

async function main(): Promise<number> {
    let config: CarryConfig;
    try {
        config = loadCarryConfig();
    } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        process.stderr.write(`voting-carry: configuration error: ${err.message}\n`);
        // Still let a sidecar go, unless that is what is switched off (bad settings are not retried).
        const off = /^(0|false|no|off)$/i.test((process.env["ISTIO_QUIT_ON_EXIT"] ?? "").trim());
        const url = process.env["ISTIO_QUIT_URL"]?.trim() || "http://127.0.0.1:15020/quitquitquit";
        await quitIstio(!off, url).catch(() => undefined);
        return 2;
    }

    const exit = async (code: number): Promise<number> => {
        await quitIstio(config.istioQuit, config.istioQuitUrl);
        return code;
    };
    const hooks = testHooks(config);
    const deadline = Date.now() + config.timeoutMs;
    for (let n = 1; ; n++) {
        try {
            const result = await attempt(config, hooks);
            const carried: Record<string, number> = {};
            for (const c of result.candidates) carried[c.candidate] = c.added;
            log("info", `carry: ${result.total} vote(s) carried from redis to mysql`, {
                carried,
                total: result.total,
                candidates: result.candidates,
                attempts: n,
                redis: `${config.redis.host}:${config.redis.port}`,
                mysql: `${config.mysql.host}:${config.mysql.port}/${config.mysql.database}`,
            });
            return exit(0);
        } catch (err) {
            const message = err instanceof Error ? err.message : String(err);
            const wait = Math.min(250 * 2 ** (n - 1), 2000);
            if (err instanceof CarryDataError || Date.now() + wait > deadline) {
                if (err instanceof RedisUnreachableError) return exit(await redisGone(config, message, n));
                log("error", `carry failed: ${message}`, { attempts: n });
                return exit(1);
            }
            log("warn", `carry attempt ${n} failed, retrying in ${wait} ms: ${message}`);
            await sleep(wait);
        }
    }
}

/** Redis stayed unreachable: nothing to carry if MySQL was never seeded from it, else a loud failure. */
async function redisGone(config: CarryConfig, message: string, attempts: number): Promise<number> {
    const redis = `${config.redis.host}:${config.redis.port}`;
    const mysqlAddress = `${config.mysql.host}:${config.mysql.port}/${config.mysql.database}`;
    let last: { at: string; final: boolean } | null;
    try {
        last = await lastCarry(config);
    } catch (err) {
        log(
            "error",
            `carry failed: ${message}; and asking MySQL whether it was ever seeded failed: ${(err as Error).message}`,
            {
                attempts,
            },
        );
        return 1;
    }
    const carried = Object.fromEntries(config.candidates.map((c) => [c, 0]));
    if (last?.final) {
        log(
            "info",
            `carry: nothing to carry: redis does not answer, and the final carry ran at ${last.at} (Redis stops after it)`,
            {
                carried,
                total: 0,
                candidates: [],
                attempts,
                redis: "unreachable",
                seeded: true,
                afterFinal: true,
                reason: message,
                mysql: mysqlAddress,
            },
        );
        return 0;
    }
    if (last === null) {
        log("info", "carry: nothing to carry: redis never seeded mysql and does not answer (no Redis ever ran)", {
            carried,
            total: 0,
            candidates: [],
            attempts,
            redis: "unreachable",
            seeded: false,
            reason: message,
            mysql: mysqlAddress,
        });
        return 0;
    }
    log(
        "error",
        `carry failed: ${message}; mysql was seeded from redis (last carry ${last.at}, not a final one), so the votes 1.x took since ` +
            `would be lost: keep Redis running and run the carry again`,
        { attempts, redis, mysql: mysqlAddress, lastCarry: last.at },
    );
    return 1;
}

main().then(
    (code) => process.exit(code),
    (err: unknown) => {
        process.stderr.write(`voting-carry: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
        process.exit(1);
    },
);
