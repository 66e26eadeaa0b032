// The behaviour every app/analytics version pair must show against the real store.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { pageResults, pool, request, Running, services, startComponent, vote, waitUntil } from "./helpers";

export interface SuiteOptions {
    appVersion: string;
    analyticsVersion: string;
    store: "redis" | "mysql";
    /** Results text after 2 Cats and 4 Dogs votes. */
    text24: string;
    /** Results text with no votes. */
    text00: string;
    /** Results text for the given counts. */
    textFor: (cats: number, dogs: number) => string;
}

export function versionSuite(o: SuiteOptions): void {
    describe(`app ${o.appVersion} + analytics ${o.analyticsVersion} on ${o.store}`, () => {
        let app: Running;
        let analytics: Running;

        before(async () => {
            await services(o.store === "redis" ? "start-redis" : "start-mysql");
            analytics = await startComponent("analytics", o.analyticsVersion);
            app = await startComponent("app", o.appVersion, {
                ANALYTICS_HOST: "127.0.0.1",
                ANALYTICS_PORT: String(analytics.port),
            });
        });

        after(async () => {
            await app?.stop("SIGKILL");
            await analytics?.stop("SIGKILL");
        });

        const reset = async (): Promise<void> => {
            const r = await vote(app.url, "reset");
            assert.equal(r.status, 303, r.body);
        };

        test("vote flow: 2 Cats + 4 Dogs show the exact results text", async () => {
            await reset();
            assert.equal(await pageResults(app.url), o.text00);
            for (const v of ["Cats", "Dogs", "Dogs", "Cats", "Dogs", "Dogs"]) {
                const r = await vote(app.url, v);
                assert.equal(r.status, 303);
                assert.equal(r.headers.location, "/");
            }
            assert.equal(await pageResults(app.url), o.text24);

            const page = await request("GET", `${app.url}/`);
            assert.match(page.headers["content-type"] ?? "", /text\/html/);
            assert.ok(page.body.includes('<div id="results"> ' + o.text24 + " </div>"));
            assert.match(page.body, new RegExp(`Store: <span id="store">${o.store}</span>`));
            assert.match(
                page.body,
                new RegExp(`Version: <span id="version">${o.appVersion.replace(".", "\\.")}</span>`),
            );
            assert.match(page.body, /<title>Azure Voting App<\/title>/);

            const a = await request("GET", `${analytics.url}/analytics`);
            assert.equal(a.status, 200);
            const json = JSON.parse(a.body) as Record<string, unknown>;
            assert.equal(json["cats"], 2);
            assert.equal(json["dogs"], 4);
            assert.equal(json["total"], 6);
            assert.equal(json["text"], o.text24);
            assert.deepEqual(json["counts"], { Cats: 2, Dogs: 4 });
        });

        test("reset sets both counts to 0", async () => {
            await vote(app.url, "Cats");
            await reset();
            assert.equal(await pageResults(app.url), o.text00);
        });

        test("bad votes are refused with 400 and nothing is counted", async () => {
            await reset();
            await vote(app.url, "Cats");
            const before = await pageResults(app.url);
            const bad: Array<{ body: string; type?: string }> = [
                { body: "vote=Birds" },
                { body: "vote=cats" },
                { body: "vote=" },
                { body: "nothing=here" },
                { body: "vote=Cats&vote=Dogs" },
                { body: "vote=Cats", type: "application/json" },
                { body: "vote=Cats", type: "text/plain" },
            ];
            for (const b of bad) {
                const r = await request("POST", `${app.url}/`, {
                    body: b.body,
                    headers: { "content-type": b.type ?? "application/x-www-form-urlencoded" },
                });
                assert.equal(r.status, 400, `${b.body} (${b.type ?? "form"}) → ${r.status}`);
            }
            const big = await request("POST", `${app.url}/`, {
                body: "vote=Cats&x=" + "a".repeat(20_000),
                headers: { "content-type": "application/x-www-form-urlencoded" },
            });
            assert.equal(big.status, 413);
            assert.equal(await pageResults(app.url), before);
            assert.equal(before, o.textFor(1, 0));
        });

        test("2,000 concurrent votes (100 in flight) give exact counts", { timeout: 120_000 }, async () => {
            await reset();
            const votes = Array.from({ length: 2000 }, (_, i) => (i % 4 === 0 ? "Cats" : "Dogs"));
            const statuses = await pool(votes, 100, async (v) => (await vote(app.url, v)).status);
            assert.equal(statuses.filter((s) => s === 303).length, 2000);
            assert.equal(await pageResults(app.url), o.textFor(500, 1500));
            const json = JSON.parse((await request("GET", `${analytics.url}/analytics`)).body) as Record<
                string,
                number
            >;
            assert.equal(json["cats"], 500);
            assert.equal(json["dogs"], 1500);
        });

        test("/healthz and /readyz", async () => {
            for (const c of [app, analytics]) {
                const h = await request("GET", `${c.url}/healthz`);
                assert.equal(h.status, 200);
                assert.equal(h.body, "ok");
                const r = await request("GET", `${c.url}/readyz`);
                assert.equal(r.status, 200);
            }
            assert.equal((await request("GET", `${app.url}/nope`)).status, 404);
            assert.equal((await request("DELETE", `${app.url}/`)).status, 405);
        });

        test(`${o.store} stopped → 503, restarted → served again without restart`, { timeout: 120_000 }, async () => {
            await reset();
            await vote(app.url, "Dogs");
            await services(o.store === "redis" ? "stop-redis" : "stop-mysql");
            try {
                const page = await request("GET", `${app.url}/`);
                assert.equal(page.status, 503);
                assert.match(page.headers["content-type"] ?? "", /text\/html/);
                assert.match(page.body, /storage unavailable/i);
                const v = await vote(app.url, "Cats");
                assert.equal(v.status, 503);
                assert.match(v.body, /storage unavailable/i);
                assert.equal((await request("GET", `${app.url}/readyz`)).status, 503);
                assert.equal((await request("GET", `${app.url}/healthz`)).status, 200);
                const a = await request("GET", `${analytics.url}/analytics`);
                assert.equal(a.status, 503);
                assert.match(a.body, /storage unavailable/);
                assert.equal((await request("GET", `${analytics.url}/readyz`)).status, 503);
                assert.equal((await request("GET", `${analytics.url}/healthz`)).status, 200);
                assert.equal(app.proc.exitCode, null, "app must not crash");
                assert.equal(analytics.proc.exitCode, null, "analytics must not crash");
            } finally {
                await services(o.store === "redis" ? "start-redis" : "start-mysql");
            }
            await waitUntil("app ready again", async () => (await request("GET", `${app.url}/readyz`)).status === 200);
            await waitUntil(
                "analytics ready again",
                async () => (await request("GET", `${analytics.url}/readyz`)).status === 200,
            );
            // Redis runs without persistence here, so its counts are gone; MySQL keeps them.
            await waitUntil("vote accepted again", async () => (await vote(app.url, "Cats")).status === 303);
            const expected = o.store === "mysql" ? o.textFor(1, 1) : o.textFor(1, 0);
            assert.equal(await pageResults(app.url), expected);
            assert.equal(app.proc.exitCode, null);
            assert.equal(analytics.proc.exitCode, null);
        });
    });
}
