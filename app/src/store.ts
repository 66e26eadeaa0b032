// Vote storage: Redis (versions 1.x) or MySQL (version 2.0) behind one small interface.
//
// Both clients reconnect on their own: a request made while the server is down fails
// fast with StorageUnavailableError (mapped to HTTP 503 by the servers), and requests
// succeed again once the server is back, without restarting the process.

import Redis from "ioredis";
import mysql from "mysql2/promise";
import type { Config, MysqlSettings, RedisSettings } from "./config";
import { log } from "./log";

export interface VoteStore {
    readonly kind: "redis" | "mysql";
    /** Adds one vote; resolves only once the vote is stored. */
    increment(candidate: string): Promise<void>;
    /** Sets the count of every given candidate to 0. */
    reset(candidates: readonly string[]): Promise<void>;
    /** Current counts (0 for a candidate never voted for). */
    counts(candidates: readonly string[]): Promise<Record<string, number>>;
    /** Resolves when the server answers. */
    ping(): Promise<void>;
    close(): Promise<void>;
}

export class StorageUnavailableError extends Error {
    constructor(kind: string, cause: unknown) {
        super(`${kind} storage unavailable: ${cause instanceof Error ? cause.message : String(cause)}`);
        this.name = "StorageUnavailableError";
    }
}

const COMMAND_TIMEOUT_MS = 3000;

/**
 * Redis: one hash `votes` with a field per candidate; HINCRBY is atomic. A reset also counts
 * itself in the key `votes:resets`, in the same MULTI, so the Redis → MySQL carry (carryVotes.ts)
 * can tell "reset since my last carry" from "no new votes".
 */
export class RedisStore implements VoteStore {
    readonly kind = "redis" as const;
    static readonly KEY = "votes";
    static readonly RESETS_KEY = "votes:resets";
    private readonly client: Redis;
    private lastErrorLog = 0;

    constructor(settings: RedisSettings) {
        this.client = new Redis({
            host: settings.host,
            port: settings.port,
            lazyConnect: false,
            connectTimeout: 2000,
            commandTimeout: COMMAND_TIMEOUT_MS,
            // While (re)connecting, commands wait in the offline queue; every failed connection
            // attempt rejects them all (maxRetriesPerRequest: 0), so with the server down a
            // request fails within one retry delay (<= 1 s) instead of piling up.
            enableOfflineQueue: true,
            // Also reject commands in flight when the connection drops...
            maxRetriesPerRequest: 0,
            // ...and never resend them after reconnecting: a resent HINCRBY could count twice.
            autoResendUnfulfilledCommands: false,
            // Keep reconnecting forever, backing off to at most 1 s between attempts.
            retryStrategy: (times: number) => Math.min(50 * times, 1000),
        });
        this.client.on("error", (err: Error) => this.logError(err));
        this.client.on("ready", () => log("info", `redis connected ${settings.host}:${settings.port}`));
    }

    private logError(err: Error): void {
        const now = Date.now();
        if (now - this.lastErrorLog > 5000) {
            this.lastErrorLog = now;
            log("warn", `redis: ${err.message}`);
        }
    }

    private async run<T>(fn: () => Promise<T>): Promise<T> {
        try {
            return await fn();
        } catch (err) {
            throw new StorageUnavailableError("redis", err);
        }
    }

    increment(candidate: string): Promise<void> {
        return this.run(async () => {
            await this.client.hincrby(RedisStore.KEY, candidate, 1);
        });
    }

    reset(candidates: readonly string[]): Promise<void> {
        return this.run(async () => {
            const fields: Record<string, number> = {};
            for (const c of candidates) fields[c] = 0;
            const replies = await this.client.multi().hset(RedisStore.KEY, fields).incr(RedisStore.RESETS_KEY).exec();
            const failed = replies?.find(([err]) => err);
            if (!replies || failed) throw failed?.[0] ?? new Error("reset transaction aborted");
        });
    }

    counts(candidates: readonly string[]): Promise<Record<string, number>> {
        return this.run(async () => {
            const values = await this.client.hmget(RedisStore.KEY, ...candidates);
            const out: Record<string, number> = {};
            candidates.forEach((c, i) => {
                out[c] = Number(values[i] ?? 0) || 0;
            });
            return out;
        });
    }

    ping(): Promise<void> {
        return this.run(async () => {
            await this.client.ping();
        });
    }

    async close(): Promise<void> {
        try {
            if (this.client.status === "ready") await this.client.quit();
            else this.client.disconnect();
        } catch {
            this.client.disconnect();
        }
    }
}

export const CREATE_TABLE_SQL = `CREATE TABLE IF NOT EXISTS votes (
  candidate VARCHAR(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
  count BIGINT NOT NULL DEFAULT 0
)`;

/** MySQL: table votes(candidate PK, count); INSERT ... ON DUPLICATE KEY UPDATE is atomic. */
export class MysqlStore implements VoteStore {
    readonly kind = "mysql" as const;
    private readonly pool: mysql.Pool;
    private schemaReady: Promise<void> | null = null;
    private lastErrorLog = 0;

    constructor(settings: MysqlSettings) {
        this.pool = mysql.createPool({
            host: settings.host,
            port: settings.port,
            user: settings.user,
            password: settings.password,
            database: settings.database,
            connectionLimit: 10,
            maxIdle: 10,
            idleTimeout: 60000,
            connectTimeout: 2000,
            enableKeepAlive: true,
            waitForConnections: true,
            queueLimit: 1000,
            supportBigNumbers: true,
            bigNumberStrings: false,
        });
        // Idle pool connections that die emit 'error' on the connection; the pool drops them.
        this.pool.on("connection", (conn) => {
            conn.on("error", (err: Error) => this.logError(err));
        });
    }

    private logError(err: unknown): void {
        const now = Date.now();
        if (now - this.lastErrorLog > 5000) {
            this.lastErrorLog = now;
            log("warn", `mysql: ${err instanceof Error ? err.message : String(err)}`);
        }
    }

    /** Creates the table once (idempotent); retried after a failure. */
    private ensureSchema(): Promise<void> {
        if (!this.schemaReady) {
            this.schemaReady = this.pool
                .query({ sql: CREATE_TABLE_SQL, timeout: COMMAND_TIMEOUT_MS })
                .then(() => undefined)
                .catch((err: unknown) => {
                    // A user without the CREATE privilege relies on sql/init.sql having made the table.
                    const errno = (err as { errno?: number }).errno;
                    if (errno === 1142 || errno === 1044) {
                        log(
                            "warn",
                            `mysql: cannot CREATE TABLE (${(err as Error).message}); assuming sql/init.sql created it`,
                        );
                        return;
                    }
                    this.schemaReady = null;
                    throw err;
                });
        }
        return this.schemaReady;
    }

    private async run<T>(fn: () => Promise<T>): Promise<T> {
        try {
            await this.ensureSchema();
            return await fn();
        } catch (err) {
            this.logError(err);
            throw new StorageUnavailableError("mysql", err);
        }
    }

    increment(candidate: string): Promise<void> {
        return this.run(async () => {
            await this.pool.execute(
                {
                    sql: "INSERT INTO votes (candidate, count) VALUES (?, 1) ON DUPLICATE KEY UPDATE count = count + 1",
                    timeout: COMMAND_TIMEOUT_MS,
                },
                [candidate],
            );
        });
    }

    reset(candidates: readonly string[]): Promise<void> {
        return this.run(async () => {
            const placeholders = candidates.map(() => "(?, 0)").join(", ");
            await this.pool.query(
                {
                    sql: `INSERT INTO votes (candidate, count) VALUES ${placeholders} ON DUPLICATE KEY UPDATE count = 0`,
                    timeout: COMMAND_TIMEOUT_MS,
                },
                [...candidates],
            );
        });
    }

    counts(candidates: readonly string[]): Promise<Record<string, number>> {
        return this.run(async () => {
            const [rows] = await this.pool.query<mysql.RowDataPacket[]>(
                {
                    sql: "SELECT candidate, count FROM votes WHERE candidate IN (?)",
                    timeout: COMMAND_TIMEOUT_MS,
                },
                [[...candidates]],
            );
            const out: Record<string, number> = {};
            for (const c of candidates) out[c] = 0;
            for (const row of rows) {
                const name = String(row["candidate"]);
                if (name in out) out[name] = Number(row["count"]);
            }
            return out;
        });
    }

    ping(): Promise<void> {
        return this.run(async () => {
            await this.pool.query({ sql: "SELECT 1", timeout: COMMAND_TIMEOUT_MS });
        });
    }

    async close(): Promise<void> {
        try {
            await this.pool.end();
        } catch {
            /* already closed */
        }
    }
}

export function createStore(config: Config): VoteStore {
    return config.store === "mysql" ? new MysqlStore(config.mysql) : new RedisStore(config.redis);
}
