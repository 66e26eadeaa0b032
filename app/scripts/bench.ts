// npm run bench: requests/second and latency of GET / and POST / for app 1.0 on Redis
// and app 2.0 on MariaDB (each with its analytics running), over loopback only.
// Load: BENCH_CONNECTIONS keep-alive connections (default 50) for BENCH_DURATION_S
// seconds (default 10) per row, after a 1 s warm-up. Not a test: it only measures.

import http from "node:http";
import os from "node:os";
import { request, startComponent, vote, type Running } from "../test/helpers";

const DURATION_S = Number(process.env["BENCH_DURATION_S"] ?? 10);
const CONNECTIONS = Number(process.env["BENCH_CONNECTIONS"] ?? 50);

interface Result {
    requests: number;
    errors: number;
    rps: number;
    p50: number;
    p99: number;
    max: number;
}

function once(agent: http.Agent, method: string, url: string, body?: string): Promise<number> {
    return new Promise((resolve, reject) => {
        const headers: Record<string, string> = {};
        if (body !== undefined) {
            headers["content-type"] = "application/x-www-form-urlencoded";
            headers["content-length"] = String(Buffer.byteLength(body));
        }
        const req = http.request(url, { method, agent, headers, timeout: 10_000 }, (res) => {
            res.resume();
            res.on("end", () => resolve(res.statusCode ?? 0));
            res.on("error", reject);
        });
        req.on("timeout", () => req.destroy(new Error("timeout")));
        req.on("error", reject);
        req.end(body);
    });
}

async function load(method: string, url: string, expect: number, body?: string): Promise<Result> {
    const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
    const run = async (seconds: number, record: boolean): Promise<{ lat: number[]; errors: number }> => {
        const lat: number[] = [];
        let errors = 0;
        const end = Date.now() + seconds * 1000;
        const worker = async (): Promise<void> => {
            while (Date.now() < end) {
                const t0 = process.hrtime.bigint();
                let ok: boolean;
                try {
                    ok = (await once(agent, method, url, body)) === expect;
                } catch {
                    ok = false;
                }
                if (!record) continue;
                if (ok) lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
                else errors++;
            }
        };
        await Promise.all(Array.from({ length: CONNECTIONS }, worker));
        return { lat, errors };
    };
    await run(1, false); // warm-up
    const t0 = Date.now();
    const { lat, errors } = await run(DURATION_S, true);
    const elapsed = (Date.now() - t0) / 1000;
    agent.destroy();
    lat.sort((a, b) => a - b);
    const pct = (p: number): number => lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))] ?? NaN;
    return {
        requests: lat.length,
        errors,
        rps: lat.length / elapsed,
        p50: pct(50),
        p99: pct(99),
        max: lat[lat.length - 1] ?? NaN,
    };
}

async function main(): Promise<void> {
    const rows: string[] = [];
    const scenarios = [
        { app: "1.0", analytics: "1.0", store: "Redis 7" },
        { app: "2.0", analytics: "2.0", store: "MariaDB 10.11" },
    ];
    for (const s of scenarios) {
        let analytics: Running | undefined;
        let app: Running | undefined;
        try {
            analytics = await startComponent("analytics", s.analytics);
            app = await startComponent("app", s.app, {
                ANALYTICS_HOST: "127.0.0.1",
                ANALYTICS_PORT: String(analytics.port),
            });
            await vote(app.url, "reset");
            const cases: Array<[string, () => Promise<Result>]> = [
                ["GET /", () => load("GET", `${app!.url}/`, 200)],
                ["POST / (vote)", () => load("POST", `${app!.url}/`, 303, "vote=Cats")],
            ];
            for (const [name, fn] of cases) {
                process.stderr.write(`bench: app ${s.app} (${s.store}) ${name} for ${DURATION_S}s...\n`);
                const r = await fn();
                rows.push(
                    `| app ${s.app} + analytics ${s.analytics} | ${s.store} | ${name} | ${r.rps.toFixed(0)} | ` +
                        `${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.max.toFixed(1)} | ${r.requests} | ${r.errors} |`,
                );
            }
            const check = await request("GET", `${analytics.url}/analytics`);
            process.stderr.write(`bench: analytics after the run: ${check.body}\n`);
        } finally {
            await app?.stop();
            await analytics?.stop();
        }
    }
    const cpu = os.cpus()[0]?.model ?? "unknown CPU";
    console.log(
        `\nBench ${new Date().toISOString().slice(0, 10)}: ${os.cpus().length} cores (${cpu}), Node ${process.version}, ` +
            `${CONNECTIONS} keep-alive connections, ${DURATION_S} s per row after 1 s warm-up, loopback; ` +
            `load generator, app, analytics and database share the same cores.\n`,
    );
    console.log("| components | store | request | req/s | p50 ms | p99 ms | max ms | requests | errors |");
    console.log("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (const r of rows) console.log(r);
}

main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
});
