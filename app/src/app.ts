// voting-app: the HTML page, vote handling and the feature-flag cookie.

import http from "node:http";
import os from "node:os";
import type { Config } from "./config";
import { HttpError, type Handler, readForm, redirect, send } from "./http";
import type { VoteStore } from "./store";
import { renderErrorPage, renderPage } from "./html";
import { log } from "./log";

/** Headers the Istio sample propagated (B3, OpenTracing, W3C trace context). Never cookies. */
export const TRACING_HEADERS = [
    "x-request-id",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-parentspanid",
    "x-b3-sampled",
    "x-b3-flags",
    "x-ot-span-context",
    "traceparent",
    "tracestate",
] as const;

export const FEATURE_COOKIE = "featureflag";
const ANALYTICS_TIMEOUT_MS = 2000;
export const ANALYTICS_UNAVAILABLE = "analytics unavailable";

export function tracingHeaders(req: http.IncomingMessage): Record<string, string> {
    const out: Record<string, string> = {};
    for (const name of TRACING_HEADERS) {
        const v = req.headers[name];
        if (typeof v === "string" && v !== "") out[name] = v;
    }
    return out;
}

export function parseCookies(header: string | undefined): Map<string, string> {
    const out = new Map<string, string>();
    if (!header) return out;
    for (const part of header.split(";")) {
        const eq = part.indexOf("=");
        if (eq < 0) continue;
        const name = part.slice(0, eq).trim();
        let value = part.slice(eq + 1).trim();
        if (value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
        if (name && !out.has(name)) {
            try {
                out.set(name, decodeURIComponent(value));
            } catch {
                out.set(name, value);
            }
        }
    }
    return out;
}

const analyticsAgent = new http.Agent({ keepAlive: true, maxSockets: 64 });

/**
 * The header naming the app version on every call to analytics: Gateway API's mesh routes match on
 * it to send each app version to its own analytics version (Gateway API routes cannot match on the
 * calling workload, as Istio's VirtualService `sourceLabels` do).
 */
export const APP_VERSION_HEADER = "x-voting-app-version";

/** GET http://ANALYTICS_HOST:ANALYTICS_PORT/analytics → its `text`, or null when unreachable. */
export function fetchAnalyticsText(config: Config, headers: Record<string, string>): Promise<string | null> {
    return new Promise((resolve) => {
        let settled = false;
        const finish = (v: string | null): void => {
            if (!settled) {
                settled = true;
                resolve(v);
            }
        };
        const req = http.request(
            {
                host: config.analyticsHost,
                port: config.analyticsPort,
                path: "/analytics",
                method: "GET",
                headers: { accept: "application/json", ...headers, [APP_VERSION_HEADER]: config.version },
                agent: analyticsAgent,
                timeout: ANALYTICS_TIMEOUT_MS,
            },
            (res) => {
                const chunks: Buffer[] = [];
                let size = 0;
                res.on("data", (c: Buffer) => {
                    size += c.length;
                    if (size > 64 * 1024) {
                        req.destroy();
                        return;
                    }
                    chunks.push(c);
                });
                res.on("end", () => {
                    if (res.statusCode !== 200) return finish(null);
                    try {
                        const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { text?: unknown };
                        finish(typeof body.text === "string" ? body.text : null);
                    } catch {
                        finish(null);
                    }
                });
                res.on("error", () => finish(null));
                res.on("aborted", () => finish(null));
            },
        );
        req.on("timeout", () => req.destroy(new Error("analytics timeout")));
        req.on("error", (err) => {
            log("warn", `analytics: ${err.message}`);
            finish(null);
        });
        req.on("close", () => finish(null));
        req.end();
    });
}

export function createAppHandler(config: Config, store: VoteStore): Handler {
    const candidates = [config.vote1, config.vote2] as const;
    const hostname = os.hostname();

    return async (req, res) => {
        const url = new URL(req.url ?? "/", "http://localhost");
        const path = url.pathname;
        const method = req.method ?? "GET";

        if (path === "/healthz") {
            if (method !== "GET" && method !== "HEAD") throw new HttpError(405, "method not allowed");
            return send(res, 200, "ok");
        }
        if (path === "/readyz") {
            if (method !== "GET" && method !== "HEAD") throw new HttpError(405, "method not allowed");
            try {
                await store.ping();
                return send(res, 200, "ready");
            } catch {
                return send(res, 503, "storage unavailable");
            }
        }

        if (path === "/featureflag/set" || path === "/featureflag/clear") {
            if (!config.featureFlag) throw new HttpError(404, "not found");
            if (method !== "POST") throw new HttpError(405, "method not allowed");
            req.resume(); // any form body is ignored
            const cookie =
                path === "/featureflag/set"
                    ? `${FEATURE_COOKIE}=on; Path=/; HttpOnly; SameSite=Lax`
                    : `${FEATURE_COOKIE}=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax`;
            return redirect(res, "/", { "Set-Cookie": cookie });
        }

        if (path !== "/") throw new HttpError(404, "not found");

        if (method === "POST") {
            const form = await readForm(req);
            const votes = form.getAll("vote");
            if (votes.length !== 1) throw new HttpError(400, 'expected exactly one "vote" field');
            const vote = votes[0]!;
            if (vote === "reset") {
                await store.reset(candidates);
            } else if (vote === config.vote1 || vote === config.vote2) {
                await store.increment(vote);
            } else {
                throw new HttpError(400, `unknown vote "${vote}"`);
            }
            // Post/Redirect/Get: the vote is stored before this answer is sent.
            return redirect(res, "/");
        }

        if (method !== "GET" && method !== "HEAD") throw new HttpError(405, "method not allowed");

        await store.ping(); // 503 "storage unavailable" page when the store is down
        const text = (await fetchAnalyticsText(config, tracingHeaders(req))) ?? ANALYTICS_UNAVAILABLE;
        const flagOn = parseCookies(req.headers.cookie).get(FEATURE_COOKIE) === "on";
        const html = renderPage({
            title: config.title,
            vote1: config.vote1,
            vote2: config.vote2,
            results: text,
            showDetails: config.showDetails,
            featureFlagEnabled: config.featureFlag,
            featureFlagOn: flagOn,
            hostname,
            store: store.kind,
            version: config.version,
        });
        return send(res, 200, html, "text/html; charset=utf-8");
    };
}

export function appErrorPage(config: Config) {
    return (status: number, message: string) => ({
        body: renderErrorPage(config.title, status, message),
        type: "text/html; charset=utf-8",
    });
}
