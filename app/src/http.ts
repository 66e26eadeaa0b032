// Small helpers around node:http: body reading, responses, graceful shutdown.

import http from "node:http";
import { log } from "./log";
import { StorageUnavailableError } from "./store";

export class HttpError extends Error {
    constructor(
        readonly status: number,
        message: string,
    ) {
        super(message);
    }
}

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>;

const MAX_BODY_BYTES = 8 * 1024;

/** Reads a small request body (at most 8 KiB, else 413). */
export function readBody(req: http.IncomingMessage): Promise<string> {
    return new Promise((resolve, reject) => {
        const chunks: Buffer[] = [];
        let size = 0;
        let failed = false;
        req.on("data", (chunk: Buffer) => {
            if (failed) return;
            size += chunk.length;
            if (size > MAX_BODY_BYTES) {
                failed = true;
                reject(new HttpError(413, "request body too large"));
                req.resume();
                return;
            }
            chunks.push(chunk);
        });
        req.on("end", () => {
            if (!failed) resolve(Buffer.concat(chunks).toString("utf8"));
        });
        req.on("error", (err) => {
            if (!failed) {
                failed = true;
                reject(err);
            }
        });
    });
}

/** Parses an application/x-www-form-urlencoded body; other content types are a 400. */
export async function readForm(req: http.IncomingMessage): Promise<URLSearchParams> {
    const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
    const body = await readBody(req);
    if (type !== "application/x-www-form-urlencoded") {
        throw new HttpError(400, "expected an application/x-www-form-urlencoded form");
    }
    return new URLSearchParams(body);
}

export function send(
    res: http.ServerResponse,
    status: number,
    body: string,
    contentType = "text/plain; charset=utf-8",
    headers: http.OutgoingHttpHeaders = {},
): void {
    const buf = Buffer.from(body, "utf8");
    res.writeHead(status, {
        "Content-Type": contentType,
        "Content-Length": buf.length,
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        ...headers,
    });
    res.end(res.req.method === "HEAD" ? undefined : buf);
}

export function sendJson(res: http.ServerResponse, status: number, value: unknown): void {
    send(res, status, JSON.stringify(value), "application/json; charset=utf-8");
}

export function redirect(res: http.ServerResponse, location: string, headers: http.OutgoingHttpHeaders = {}): void {
    res.writeHead(303, { Location: location, "Content-Length": 0, "Cache-Control": "no-store", ...headers });
    res.end();
}

export interface RunningServer {
    server: http.Server;
    /** Stops accepting, waits for in-flight requests (up to timeoutMs), then runs onClosed. */
    shutdown(reason: string): Promise<boolean>;
    isShuttingDown(): boolean;
}

/**
 * Wraps a handler: errors become 400/413/503/500 answers instead of crashes, and while
 * shutting down every answer carries Connection: close so keep-alive clients move on.
 */
export function createServer(
    handler: Handler,
    errorPage: (status: number, message: string, req: http.IncomingMessage) => { body: string; type: string },
    timeoutMs: number,
): RunningServer {
    let shuttingDown = false;
    const server = http.createServer((req, res) => {
        if (shuttingDown) res.setHeader("Connection", "close");
        // A keep-alive connection whose request was in flight when shutdown began becomes
        // idle afterwards: close it then, so server.close() can complete.
        res.on("finish", () => {
            if (shuttingDown) setImmediate(() => server.closeIdleConnections());
        });
        handler(req, res).catch((err: unknown) => {
            let status = 500;
            let message = "internal error";
            if (err instanceof HttpError) {
                status = err.status;
                message = err.message;
            } else if (err instanceof StorageUnavailableError) {
                status = 503;
                message = "storage unavailable";
                log("warn", err.message, { path: req.url });
            } else {
                log("error", `unhandled error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`, {
                    path: req.url,
                });
            }
            if (res.headersSent) {
                res.destroy();
                return;
            }
            const page = errorPage(status, message, req);
            send(res, status, page.body, page.type, status === 503 ? { "Retry-After": "5" } : {});
        });
    });
    server.keepAliveTimeout = 65000; // longer than typical proxy (Envoy) idle timeouts
    server.headersTimeout = 66000;
    server.requestTimeout = 30000;

    let closing: Promise<boolean> | null = null;
    const shutdown = (reason: string): Promise<boolean> => {
        if (closing) return closing;
        shuttingDown = true;
        log("info", `shutting down (${reason}): no new connections, finishing in-flight requests`);
        closing = new Promise<boolean>((resolve) => {
            let done = false;
            const timer = setTimeout(() => {
                if (done) return;
                done = true;
                log("warn", `in-flight requests still running after ${timeoutMs} ms; closing them`);
                server.closeAllConnections();
                resolve(false);
            }, timeoutMs);
            timer.unref();
            server.close(() => {
                if (done) return;
                done = true;
                clearTimeout(timer);
                resolve(true);
            });
            server.closeIdleConnections();
        });
        return closing;
    };

    return { server, shutdown, isShuttingDown: () => shuttingDown };
}
