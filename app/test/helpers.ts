// Test helpers: spawn the real components (dist/main.js) against the throwaway servers
// started by scripts/services.sh, and talk to them over HTTP on 127.0.0.1.

import { ChildProcess, execFile, spawn } from "node:child_process";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { promisify } from "node:util";

const execFileP = promisify(execFile);

export const APP_ROOT = path.resolve(__dirname, "..", "..");
export const MAIN_JS = path.join(APP_ROOT, "dist", "main.js");
export const SERVICES_SH = path.join(APP_ROOT, "scripts", "services.sh");

/** Same defaults as scripts/services.sh. */
export const STORAGE_ENV: Record<string, string> = {
    REDIS_HOST: "127.0.0.1",
    REDIS_PORT: process.env["TEST_REDIS_PORT"] ?? "16379",
    MYSQL_HOST: "127.0.0.1",
    MYSQL_PORT: process.env["TEST_MYSQL_PORT"] ?? "13306",
    MYSQL_USER: process.env["TEST_MYSQL_USER"] ?? "voting",
    MYSQL_PASSWORD: process.env["TEST_MYSQL_PASSWORD"] ?? "voting-test-password",
    MYSQL_DATABASE: process.env["TEST_MYSQL_DATABASE"] ?? "votes",
};

export async function services(cmd: string): Promise<void> {
    await execFileP("bash", [SERVICES_SH, cmd], {
        env: { ...process.env, SERVICES_NEED_CHROMIUM: "0" },
        timeout: 120_000,
    });
}

export function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const srv = net.createServer();
        srv.unref();
        srv.on("error", reject);
        srv.listen(0, "127.0.0.1", () => {
            const addr = srv.address() as net.AddressInfo;
            srv.close(() => resolve(addr.port));
        });
    });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface Running {
    url: string;
    port: number;
    proc: ChildProcess;
    output: () => string;
    /** Sends a signal and resolves with the exit code (null if killed by a signal). */
    stop(signal?: NodeJS.Signals): Promise<number | null>;
    exited: Promise<number | null>;
}

/** Starts a component and waits until /healthz answers. */
export async function startComponent(
    component: string,
    version: string,
    env: Record<string, string> = {},
    waitFor: "readyz" | "healthz" = "readyz",
): Promise<Running> {
    const port = await freePort();
    const proc = spawn(process.execPath, [MAIN_JS], {
        env: {
            PATH: process.env["PATH"] ?? "/usr/bin:/bin",
            ...STORAGE_ENV,
            COMPONENT: component,
            VERSION: version,
            PORT: String(port),
            ...env,
        },
        stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    proc.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    proc.stderr!.on("data", (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => proc.on("exit", (code) => resolve(code)));
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 15_000;
    let exitCode: number | null | undefined;
    void exited.then((c) => (exitCode = c));
    for (;;) {
        if (exitCode !== undefined) throw new Error(`${component} ${version} exited with ${exitCode}: ${out}`);
        try {
            // like a Kubernetes readiness probe: alive and its store reachable
            const r = await request("GET", `${url}/${waitFor}`);
            if (r.status === 200) break;
        } catch {
            /* not listening yet */
        }
        if (Date.now() > deadline) {
            proc.kill("SIGKILL");
            throw new Error(`${component} ${version} did not become healthy: ${out}`);
        }
        await sleep(50);
    }
    return {
        url,
        port,
        proc,
        output: () => out,
        exited,
        async stop(signal: NodeJS.Signals = "SIGTERM") {
            if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
            proc.kill(signal);
            const timer = setTimeout(() => proc.kill("SIGKILL"), 15_000);
            const code = await exited;
            clearTimeout(timer);
            return code;
        },
    };
}

export interface Reply {
    status: number;
    headers: http.IncomingHttpHeaders;
    body: string;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 200 });

/** Plain HTTP request (redirects are not followed). */
export function request(
    method: string,
    url: string,
    opts: { body?: string; headers?: Record<string, string>; timeoutMs?: number; newConnection?: boolean } = {},
): Promise<Reply> {
    return new Promise((resolve, reject) => {
        const headers: Record<string, string> = { ...(opts.headers ?? {}) };
        if (opts.body !== undefined) headers["content-length"] = String(Buffer.byteLength(opts.body));
        const req = http.request(
            url,
            { method, headers, agent: opts.newConnection ? false : agent, timeout: opts.timeoutMs ?? 10_000 },
            (res) => {
                const chunks: Buffer[] = [];
                res.on("data", (c: Buffer) => chunks.push(c));
                res.on("end", () =>
                    resolve({
                        status: res.statusCode ?? 0,
                        headers: res.headers,
                        body: Buffer.concat(chunks).toString("utf8"),
                    }),
                );
                res.on("error", reject);
            },
        );
        req.on("timeout", () => req.destroy(new Error(`timeout ${method} ${url}`)));
        req.on("error", reject);
        req.end(opts.body);
    });
}

export function vote(appUrl: string, value: string, extraHeaders: Record<string, string> = {}): Promise<Reply> {
    return request("POST", `${appUrl}/`, {
        body: new URLSearchParams({ vote: value }).toString(),
        headers: { "content-type": "application/x-www-form-urlencoded", ...extraHeaders },
    });
}

/** The TEXT of `<div id="results"> TEXT </div>` (asserting it is on one line). */
export function resultsOf(html: string): string {
    const m = /^<div id="results"> (.*) <\/div>$/m.exec(html);
    if (!m) throw new Error(`no results line in page:\n${html}`);
    return m[1]!;
}

export async function pageResults(appUrl: string): Promise<string> {
    const r = await request("GET", `${appUrl}/`);
    if (r.status !== 200) throw new Error(`GET / → ${r.status}: ${r.body}`);
    return resultsOf(r.body);
}

/** Runs fn over items with at most `limit` in flight. */
export async function pool<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
    const results: R[] = new Array(items.length);
    let next = 0;
    const worker = async (): Promise<void> => {
        while (next < items.length) {
            const i = next++;
            results[i] = await fn(items[i]!);
        }
    };
    await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
    return results;
}

/** Polls until fn resolves true (or throws at the deadline). */
export async function waitUntil(what: string, fn: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
        try {
            if (await fn()) return;
        } catch (err) {
            last = err;
        }
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
        await sleep(100);
    }
}
