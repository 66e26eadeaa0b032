// Entry point of the Redis → MySQL vote carry: `node dist/carry.js` (the migration Job runs the
// app's image with this command). The operation itself is carryVotes.ts.
//
// Exit codes: 0 carried (one JSON line on stdout says what), 1 a store stayed unreachable or
// failed for CARRY_TIMEOUT_MS (every attempt is a whole carry, safe to repeat), 2 bad settings.
// Before exiting, with any code, it asks Istio's pilot-agent to quit (best effort), so that a
// classic sidecar does not keep the Job's pod running.

import http from "node:http";
import Redis from "ioredis";
import mysql from "mysql2/promise";
import { carryVotes, CarryDataError, type CarryHooks, type CarryResult } from "./carryVotes";
import { ConfigError, loadCarryConfig, type CarryConfig } from "./config";
import { log } from "./log";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

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
            await redis.connect();
        } catch (err) {
            throw new Error(`redis at ${redisAddress} unreachable: ${(redisError ?? (err as Error)).message}`, {
                cause: err,
            });
        }
        try {
            conn = await mysql.createConnection({
                host: config.mysql.host,
                port: config.mysql.port,
                user: config.mysql.user,
                password: config.mysql.password,
                database: config.mysql.database,
                connectTimeout: 2000,
                supportBigNumbers: true,
                bigNumberStrings: false,
            });
        } catch (err) {
            throw new Error(`mysql at ${mysqlAddress} unreachable: ${(err as Error).message}`, { cause: err });
        }
        conn.on("error", () => undefined); // reported through the failing query
        return await carryVotes(conn, mysqlAddress, redis, redisAddress, config.candidates, hooks);
    } finally {
        conn?.destroy();
        redis.disconnect();
    }
}

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
                log("error", `carry failed: ${message}`, { attempts: n });
                return exit(1);
            }
            log("warn", `carry attempt ${n} failed, retrying in ${wait} ms: ${message}`);
            await sleep(wait);
        }
    }
}

main().then(
    (code) => process.exit(code),
    (err: unknown) => {
        process.stderr.write(`voting-carry: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
        process.exit(1);
    },
);
