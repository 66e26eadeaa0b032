// voting-analytics: GET /analytics → counts and a results text, read from the store.

import type { Config } from "./config";
import { HttpError, type Handler, send, sendJson } from "./http";
import type { VoteStore } from "./store";

export interface Analytics {
    /** Lower-cased vote values as keys (e.g. "cats"), unless they clash with a field below. */
    [candidateLower: string]: unknown;
    total: number;
    text: string;
    counts: Record<string, number>;
    version: string;
    store: string;
}

const RESERVED = new Set(["total", "text", "counts", "version", "store"]);

export function percent(count: number, total: number): number {
    return total === 0 ? 0 : Math.round((count * 100) / total);
}

/** 1.0: `Cats: 2 | Dogs: 4`; 1.1 and 2.0: `Cats: 2/6 (33%) | Dogs: 4/6 (67%)`. */
export function resultsText(version: string, candidates: readonly string[], counts: Record<string, number>): string {
    const total = candidates.reduce((sum, c) => sum + (counts[c] ?? 0), 0);
    return candidates
        .map((c) => {
            const n = counts[c] ?? 0;
            return version === "1.0" ? `${c}: ${n}` : `${c}: ${n}/${total} (${percent(n, total)}%)`;
        })
        .join(" | ");
}

export function buildAnalytics(
    version: string,
    store: string,
    candidates: readonly string[],
    counts: Record<string, number>,
): Analytics {
    const total = candidates.reduce((sum, c) => sum + (counts[c] ?? 0), 0);
    const out: Analytics = {
        total,
        text: resultsText(version, candidates, counts),
        counts: Object.fromEntries(candidates.map((c) => [c, counts[c] ?? 0])),
        version,
        store,
    };
    const lowerFirst: Record<string, number> = {};
    for (const c of candidates) {
        const key = c.toLowerCase();
        if (!RESERVED.has(key)) lowerFirst[key] = counts[c] ?? 0;
    }
    return { ...lowerFirst, ...out } as Analytics;
}

export function createAnalyticsHandler(config: Config, store: VoteStore): Handler {
    const candidates = [config.vote1, config.vote2] as const;
    return async (req, res) => {
        const path = new URL(req.url ?? "/", "http://localhost").pathname;
        const method = req.method ?? "GET";
        if (method !== "GET" && method !== "HEAD") throw new HttpError(405, "method not allowed");
        switch (path) {
            case "/healthz":
                return send(res, 200, "ok");
            case "/readyz":
                try {
                    await store.ping();
                    return send(res, 200, "ready");
                } catch {
                    return send(res, 503, "storage unavailable");
                }
            case "/analytics": {
                const counts = await store.counts(candidates); // StorageUnavailableError → 503
                return sendJson(res, 200, buildAnalytics(config.version, store.kind, candidates, counts));
            }
            default:
                throw new HttpError(404, "not found");
        }
    };
}

export function analyticsErrorPage(status: number, message: string) {
    return {
        body: JSON.stringify({ error: status === 503 ? "storage unavailable" : message, status }),
        type: "application/json; charset=utf-8",
    };
}
