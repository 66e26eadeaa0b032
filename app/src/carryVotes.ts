// The carry: adds the votes 1.x took in Redis to 2.0's MySQL counts, exactly once.
//
// MySQL keeps a watermark per candidate, `carried_from_redis.carried`: the Redis count already
// added to `votes.count`. One carry, in one MySQL transaction:
//   1. lock the watermark rows (SELECT ... FOR UPDATE);
//   2. read Redis's counts and reset counter in one MULTI/EXEC (atomic), while holding that lock;
//   3. add delta = redisCount - carried to votes.count, set carried = redisCount;
//   4. COMMIT.
// The votes and the watermark change in the same transaction, so a carry killed at any point
// has changed nothing or everything; a re-run adds only what is new (0 if nothing is).
//
// Redis is read *after* the lock is taken, not before: carries are then serialized on the lock
// and each one reads Redis after the previous one committed, so a carry never sees a Redis count
// older than the watermark it finds (which, read first, would look like a reset and be carried
// a second time).
//
// Resets. A 1.x reset (HSET votes ... 0 plus INCR votes:resets, one MULTI) changes the reset
// counter: the next carry adds the whole Redis count (the votes since the reset). Votes taken by
// 1.x between the last carry and the reset are wiped by the reset before anyone carries them.
// A Redis count below the watermark with an unchanged reset counter (a reset by an older image,
// a hand-made HSET, Redis restarted without its data) is treated the same way. A 2.0 reset sets
// MySQL's counts to 0, carried votes included, and leaves the watermark: later carries add only
// what 1.x takes after the last carry.

import type Redis from "ioredis";
import type mysql from "mysql2/promise";
import type { CarryMode } from "./config";
import { RedisStore, CREATE_TABLE_SQL } from "./store";

export const CARRIED_TABLE = "carried_from_redis";

export const CREATE_CARRIED_TABLE_SQL = `CREATE TABLE IF NOT EXISTS ${CARRIED_TABLE} (
  candidate VARCHAR(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
  carried BIGINT NOT NULL DEFAULT 0,
  redis_resets BIGINT NOT NULL DEFAULT 0,
  carried_at TIMESTAMP(3) NULL DEFAULT NULL,
  final_carry TINYINT(1) NOT NULL DEFAULT 0
)`;

/** A store answered with something the carry cannot use (retrying will not help). */
export class CarryDataError extends Error {
    override readonly name = "CarryDataError";
}

/** Which store an error came from, so the message names it. */
export class StoreError extends Error {
    override readonly name = "StoreError";
    constructor(
        readonly store: "redis" | "mysql",
        readonly address: string,
        override readonly cause: unknown,
    ) {
        super(`${store} at ${address}: ${cause instanceof Error ? cause.message : String(cause)}`);
    }
}

export interface RedisSnapshot {
    counts: Record<string, number>;
    /** INCR'd by every 1.x reset (0 when never reset). */
    resets: number;
}

export type CarryReason = "new votes" | "redis reset" | "redis count below watermark";

export interface CandidateCarry {
    candidate: string;
    /** Redis's count, read under the lock. */
    redis: number;
    redisResets: number;
    /** The watermark before and after this carry. */
    carriedBefore: number;
    carriedAfter: number;
    /** Added to votes.count by this carry. */
    added: number;
    reason: CarryReason;
    /** votes.count as this transaction leaves it. */
    mysql: number;
}

export interface CarryResult {
    candidates: CandidateCarry[];
    /** Sum of `added`. */
    total: number;
}

export interface CarryHooks {
    /** TEST ONLY: runs with the watermark locked and Redis read, before MySQL is written. */
    afterRead?: () => Promise<void>;
    /** TEST ONLY: runs after every write, before COMMIT. */
    beforeCommit?: () => Promise<void>;
}

/** MySQL's "no CREATE privilege" errors: init.sql is expected to have made the table then. */
const NO_CREATE_PRIVILEGE = new Set([1142, 1044]);
/** Per-statement limit; lock waits are capped below it (innodb_lock_wait_timeout). */
const QUERY_TIMEOUT_MS = 15_000;
const LOCK_WAIT_TIMEOUT_S = 10;

function count(raw: unknown, what: string): number {
    const n = raw === null || raw === undefined ? 0 : Number(raw);
    if (!Number.isSafeInteger(n) || n < 0) throw new CarryDataError(`${what} is not a vote count: ${String(raw)}`);
    return n;
}

/** Redis's counts and reset counter, read in one MULTI/EXEC (one atomic step for Redis). */
export async function readRedis(redis: Redis, candidates: readonly string[]): Promise<RedisSnapshot> {
    const replies = await redis
        .multi()
        .hmget(RedisStore.KEY, ...candidates)
        .get(RedisStore.RESETS_KEY)
        .exec();
    if (!replies) throw new Error("MULTI aborted");
    const [[countsErr, values], [resetsErr, resets]] = replies as [[Error | null, unknown], [Error | null, unknown]];
    if (countsErr) throw countsErr;
    if (resetsErr) throw resetsErr;
    const counts: Record<string, number> = {};
    candidates.forEach((c, i) => {
        counts[c] = count((values as (string | null)[])[i], `redis HGET ${RedisStore.KEY} ${c}`);
    });
    return { counts, resets: count(resets, `redis GET ${RedisStore.RESETS_KEY}`) };
}

async function createTable(conn: mysql.Connection, sql: string): Promise<void> {
    try {
        await conn.query({ sql, timeout: QUERY_TIMEOUT_MS });
    } catch (err) {
        if (!NO_CREATE_PRIVILEGE.has((err as { errno?: number }).errno ?? 0)) throw err;
        // No CREATE privilege: sql/init.sql made the table (the next statements fail if it did not).
    }
}

/** Tables and watermark rows; DDL commits implicitly, so this runs before the transaction. */
async function prepare(conn: mysql.Connection, candidates: readonly string[]): Promise<void> {
    // A carry waits at most this long for a running carry's locks, then fails and is retried.
    await conn.query({
        sql: `SET SESSION innodb_lock_wait_timeout = ${LOCK_WAIT_TIMEOUT_S}`,
        timeout: QUERY_TIMEOUT_MS,
    });
    await createTable(conn, CREATE_TABLE_SQL);
    await createTable(conn, CREATE_CARRIED_TABLE_SQL);
    // Watermark rows exist before they are locked: locking absent rows takes gap locks, on which
    // two first carries deadlock. A new row (carried 0) means the same as no row. (This waits
    // while another carry holds the rows, as the SELECT ... FOR UPDATE below would.)
    await conn.query(
        {
            sql: `INSERT INTO ${CARRIED_TABLE} (candidate) VALUES ${candidates.map(() => "(?)").join(", ")} ON DUPLICATE KEY UPDATE candidate = candidate`,
            timeout: QUERY_TIMEOUT_MS,
        },
        [...candidates],
    );
}

/** What to add for one candidate, from Redis's snapshot and the watermark. */
export function plan(
    redisCount: number,
    redisResets: number,
    carried: number,
    carriedResets: number,
): { added: number; reason: CarryReason } {
    if (redisResets !== carriedResets) return { added: redisCount, reason: "redis reset" };
    if (redisCount < carried) return { added: redisCount, reason: "redis count below watermark" };
    return { added: redisCount - carried, reason: "new votes" };
}

/**
 * One carry (see the top of this file). Errors from Redis and MySQL come out as StoreError;
 * after any error the transaction is rolled back (or dies with the connection), so the whole
 * carry can simply be run again.
 */
export async function carryVotes(
    conn: mysql.Connection,
    mysqlAddress: string,
    redis: Redis,
    redisAddress: string,
    candidates: readonly string[],
    mode: CarryMode,
    hooks: CarryHooks = {},
): Promise<CarryResult> {
    const sorted = [...candidates].sort(); // one lock order for every carry
    const my = async <T>(fn: () => Promise<T>): Promise<T> => {
        try {
            return await fn();
        } catch (err) {
            throw err instanceof CarryDataError || err instanceof StoreError
                ? err
                : new StoreError("mysql", mysqlAddress, err);
        }
    };

    await my(() => prepare(conn, sorted));
    await my(() => conn.beginTransaction());
    try {
        const [marks] = await my(() =>
            conn.query<mysql.RowDataPacket[]>(
                {
                    sql: `SELECT candidate, carried, redis_resets FROM ${CARRIED_TABLE} WHERE candidate IN (?) ORDER BY candidate FOR UPDATE`,
                    timeout: QUERY_TIMEOUT_MS,
                },
                [sorted],
            ),
        );
        const watermark = new Map<string, { carried: number; resets: number }>();
        for (const row of marks) {
            const c = String(row["candidate"]);
            watermark.set(c, {
                carried: count(row["carried"], `${CARRIED_TABLE}.carried of ${c}`),
                resets: count(row["redis_resets"], `${CARRIED_TABLE}.redis_resets of ${c}`),
            });
        }

        // Under the lock: no other carry can commit between this read and our COMMIT.
        let snapshot: RedisSnapshot;
        try {
            snapshot = await readRedis(redis, sorted);
        } catch (err) {
            throw err instanceof CarryDataError ? err : new StoreError("redis", redisAddress, err);
        }
        await hooks.afterRead?.();

        const out: CandidateCarry[] = [];
        for (const c of sorted) {
            const mark = watermark.get(c) ?? { carried: 0, resets: 0 };
            const redisCount = snapshot.counts[c]!;
            const { added, reason } = plan(redisCount, snapshot.resets, mark.carried, mark.resets);
            if (added > 0) {
                await my(() =>
                    conn.query(
                        {
                            sql: "INSERT INTO votes (candidate, count) VALUES (?, ?) ON DUPLICATE KEY UPDATE count = count + ?",
                            timeout: QUERY_TIMEOUT_MS,
                        },
                        [c, added, added],
                    ),
                );
            }
            await my(() =>
                conn.query(
                    {
                        sql: `UPDATE ${CARRIED_TABLE} SET carried = ?, redis_resets = ?, carried_at = CURRENT_TIMESTAMP(3), final_carry = ? WHERE candidate = ?`,
                        timeout: QUERY_TIMEOUT_MS,
                    },
                    [redisCount, snapshot.resets, mode === "final" ? 1 : 0, c],
                ),
            );
            out.push({
                candidate: c,
                redis: redisCount,
                redisResets: snapshot.resets,
                carriedBefore: mark.carried,
                carriedAfter: redisCount,
                added,
                reason,
                mysql: 0,
            });
        }

        const [rows] = await my(() =>
            conn.query<mysql.RowDataPacket[]>(
                { sql: "SELECT candidate, count FROM votes WHERE candidate IN (?)", timeout: QUERY_TIMEOUT_MS },
                [sorted],
            ),
        );
        for (const row of rows) {
            const entry = out.find((e) => e.candidate === String(row["candidate"]));
            if (entry) entry.mysql = count(row["count"], `votes.count of ${entry.candidate}`);
        }

        await hooks.beforeCommit?.();
        await my(() => conn.commit());
        // Report in the configured order (VOTE1VALUE first).
        const ordered = candidates.map((c) => out.find((e) => e.candidate === c)!);
        return { candidates: ordered, total: ordered.reduce((s, e) => s + e.added, 0) };
    } catch (err) {
        await conn.rollback().catch(() => undefined); // a dead connection rolls back on the server
        throw err;
    }
}
