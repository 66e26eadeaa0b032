// Harness of the carry tests: run `node dist/carry.js` as the Job does, look into Redis and
// MySQL directly, keep a ledger of the votes cast on each chain, and a Redis of its own that
// keeps its data across a stop (the rollout's Redis has a volume; the suite's shared one not).

import assert from "node:assert/strict";
import { ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Redis from "ioredis";
import mysql from "mysql2/promise";
import type { CandidateCarry } from "../src/carryVotes";
import { CREATE_TABLE_SQL } from "../src/store";
import { APP_ROOT, freePort, pool, Running, STORAGE_ENV, vote, waitUntil } from "./helpers";

export const CARRY_JS = path.join(APP_ROOT, "dist", "carry.js");
export const CANDIDATES = ["Cats", "Dogs"] as const;
export type Counts = Record<string, number>;

export interface CarryLine {
    level: string;
    msg: string;
    carried: Counts;
    total: number;
    /** What the carry did per candidate (carryVotes' own type: the line is its result, as JSON). */
    candidates: CandidateCarry[];
    attempts: number;
}

export interface CarryRun {
    code: number | null;
    signal: NodeJS.Signals | null;
    stdout: string;
    stderr: string;
    /** The one JSON line on stdout (exit 0 only). */
    line?: CarryLine;
}

export interface CarryProcess {
    proc: ChildProcess;
    stderr(): string;
    done: Promise<CarryRun>;
}

/** Starts `node dist/carry.js` with the suite's stores (Istio quit off unless env turns it on). */
export function startCarry(env: Record<string, string> = {}): CarryProcess {
    const proc = spawn(process.execPath, [CARRY_JS], {
        env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", ...STORAGE_ENV, ISTIO_QUIT_ON_EXIT: "false", ...env },
        stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    proc.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
    proc.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    const done = new Promise<CarryRun>((resolve) =>
        proc.on("close", (code, signal) => {
            const run: CarryRun = { code, signal, stdout, stderr };
            if (code === 0) {
                const lines = stdout.split("\n").filter((l) => l !== "");
                assert.equal(lines.length, 1, `one line on stdout, got:\n${stdout}`);
                run.line = JSON.parse(lines[0]!) as CarryLine;
            }
            resolve(run);
        }),
    );
    return { proc, stderr: () => stderr, done };
}

/** Runs a carry to its end and asserts it succeeded. */
export async function carry(env: Record<string, string> = {}): Promise<CarryLine> {
    const run = await startCarry(env).done;
    assert.equal(run.code, 0, `carry exited ${run.code ?? run.signal}: ${run.stderr}${run.stdout}`);
    return run.line!;
}

export function redisClient(port = Number(STORAGE_ENV["REDIS_PORT"])): Redis {
    return new Redis({ host: "127.0.0.1", port, lazyConnect: true, maxRetriesPerRequest: 1 });
}

export function mysqlPool(): mysql.Pool {
    return mysql.createPool({
        host: STORAGE_ENV["MYSQL_HOST"],
        port: Number(STORAGE_ENV["MYSQL_PORT"]),
        user: STORAGE_ENV["MYSQL_USER"],
        password: STORAGE_ENV["MYSQL_PASSWORD"],
        database: STORAGE_ENV["MYSQL_DATABASE"],
        connectionLimit: 4,
    });
}

/** Direct access to both stores, as an operator with redis-cli and mysql would have. */
export class Stores {
    constructor(
        readonly redis: Redis,
        readonly db: mysql.Pool,
    ) {}

    /** Empty votes everywhere, no watermark table (a MySQL that never saw a carry). */
    async clear(): Promise<void> {
        await this.redis.del("votes", "votes:resets");
        await this.db.query(CREATE_TABLE_SQL);
        await this.db.query("DELETE FROM votes");
        await this.db.query("DROP TABLE IF EXISTS carried_from_redis");
    }

    async redisCounts(): Promise<Counts> {
        const values = await this.redis.hmget("votes", ...CANDIDATES);
        return Object.fromEntries(CANDIDATES.map((c, i) => [c, Number(values[i] ?? 0)]));
    }

    async mysqlCounts(): Promise<Counts> {
        const [rows] = await this.db.query<mysql.RowDataPacket[]>("SELECT candidate, count FROM votes");
        const out: Counts = Object.fromEntries(CANDIDATES.map((c) => [c, 0]));
        for (const r of rows) out[String(r["candidate"])] = Number(r["count"]);
        return out;
    }

    async watermarks(): Promise<Counts> {
        const [rows] = await this.db.query<mysql.RowDataPacket[]>("SELECT candidate, carried FROM carried_from_redis");
        return Object.fromEntries(rows.map((r) => [String(r["candidate"]), Number(r["carried"])]));
    }

    async close(): Promise<void> {
        this.redis.disconnect();
        await this.db.end();
    }
}

/** Votes successfully cast (303) on each chain, per candidate: what "all votes ever cast" means. */
export class Ledger {
    readonly v1: Counts = { Cats: 0, Dogs: 0 };
    readonly v2: Counts = { Cats: 0, Dogs: 0 };

    /** What 2.0 must show at finalize: every vote cast on either chain, once. */
    expected(): Counts {
        return Object.fromEntries(CANDIDATES.map((c) => [c, this.v1[c]! + this.v2[c]!]));
    }

    total(chain: "v1" | "v2"): number {
        return CANDIDATES.reduce((s, c) => s + this[chain][c]!, 0);
    }
}

/** The invariant: the counts 2.0 shows equal all votes ever cast on either chain. */
export function assertInvariant(shown: Counts, ledger: Ledger, where: string): void {
    assert.deepEqual(
        shown,
        ledger.expected(),
        `${where}: 2.0 shows ${JSON.stringify(shown)}, votes cast: 1.x ${JSON.stringify(ledger.v1)} + 2.0 ${JSON.stringify(ledger.v2)}`,
    );
}

/** Casts n votes (random candidates, `concurrency` in flight) on an app; only 303s go in the ledger. */
export async function castVotes(
    app: Running,
    chain: "v1" | "v2",
    ledger: Ledger,
    n: number,
    concurrency = 10,
): Promise<void> {
    const picks = Array.from({ length: n }, () => CANDIDATES[Math.random() < 0.4 ? 0 : 1]!);
    await pool(picks, concurrency, async (c) => {
        const r = await vote(app.url, c);
        assert.equal(r.status, 303, `vote ${c} on ${chain}: ${r.status} ${r.body}`);
        ledger[chain][c]! += 1;
    });
}

/**
 * A redis-server of its own with an append-only file flushed on every write, so stopping it and
 * starting it again keeps its data, as the rollout's Redis keeps its volume.
 */
export class PersistentRedis {
    readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "voting-carry-redis-"));
    port = 0;
    private proc: ChildProcess | undefined;

    async start(): Promise<void> {
        if (this.proc) return;
        if (this.port === 0) this.port = await freePort();
        const proc = spawn(
            "redis-server",
            [
                "--bind",
                "127.0.0.1",
                "--port",
                String(this.port),
                "--dir",
                this.dir,
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ],
            {
                stdio: "ignore",
                env: { PATH: `${process.env["PATH"] ?? "/usr/bin:/bin"}:/usr/sbin:/sbin` },
            },
        );
        this.proc = proc;
        const client = redisClient(this.port);
        client.on("error", () => undefined);
        try {
            await waitUntil(`redis-server on ${this.port}`, async () => {
                if (proc.exitCode !== null) throw new Error(`redis-server exited ${proc.exitCode}`);
                if (client.status !== "ready") await client.connect().catch(() => undefined);
                return (await client.ping()) === "PONG";
            });
        } finally {
            client.disconnect();
        }
    }

    async stop(): Promise<void> {
        const proc = this.proc;
        if (!proc) return;
        this.proc = undefined;
        if (proc.exitCode !== null) return;
        const exited = new Promise((r) => proc.on("exit", r));
        proc.kill("SIGTERM"); // redis-server flushes the append-only file and exits
        await exited;
    }

    async remove(): Promise<void> {
        await this.stop();
        fs.rmSync(this.dir, { recursive: true, force: true });
    }
}
