// The app forwards exactly the tracing headers to analytics (never cookies), adds its own version
// (x-voting-app-version), and still
// renders when analytics is unreachable. App settings TITLE/SHOWDETAILS/FEATUREFLAG.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startFakeAnalytics, type FakeAnalytics } from "./fake-analytics";
import { freePort, request, resultsOf, Running, services, startComponent } from "./helpers";

const TRACE: Record<string, string> = {
    "x-request-id": "9d1c0e5e-4f0a-4a57-a2c5-2b1f7f0b1a11",
    "x-b3-traceid": "80f198ee56343ba864fe8b2a57d3eff7",
    "x-b3-spanid": "e457b5a2e4d86bd1",
    "x-b3-parentspanid": "05e3ac9a4f6e3b90",
    "x-b3-sampled": "1",
    "x-b3-flags": "1",
    "x-ot-span-context": "80f198ee56343ba864fe8b2a57d3eff7;e457b5a2e4d86bd1;05e3ac9a4f6e3b90;cs",
    traceparent: "00-80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-01",
    tracestate: "congo=t61rcWkgMzE",
};

describe("app → analytics", () => {
    let fake: FakeAnalytics;
    let app: Running;

    before(async () => {
        await services("start-redis");
        fake = await startFakeAnalytics();
        app = await startComponent("app", "1.0", { ANALYTICS_HOST: "127.0.0.1", ANALYTICS_PORT: String(fake.port) });
    });
    after(async () => {
        await app?.stop("SIGKILL");
        await fake?.close();
    });

    test("tracing headers are forwarded; cookies and other headers are not", async () => {
        fake.received.length = 0;
        const r = await request("GET", `${app.url}/`, {
            headers: {
                ...TRACE,
                cookie: "featureflag=on; session=secret",
                authorization: "Bearer x",
                "x-custom": "no",
            },
        });
        assert.equal(r.status, 200);
        assert.equal(resultsOf(r.body), "fake analytics text");
        assert.equal(fake.received.length, 1);
        const got = fake.received[0]!;
        for (const [k, v] of Object.entries(TRACE)) assert.equal(got[k], v, k);
        assert.equal(got.cookie, undefined);
        assert.equal(got.authorization, undefined);
        assert.equal(got["x-custom"], undefined);
        // the page itself did see the cookie
        assert.match(r.body, /Feature flag: on/);
    });

    test("only the tracing headers present are sent", async () => {
        fake.received.length = 0;
        await request("GET", `${app.url}/`, { headers: { "x-b3-traceid": "abc" } });
        const got = fake.received[0]!;
        assert.equal(got["x-b3-traceid"], "abc");
        assert.equal(got["x-request-id"], undefined);
        assert.equal(got.traceparent, undefined);
    });

    test("every call to analytics names the app version (Gateway API mesh routes match on it)", async () => {
        fake.received.length = 0;
        await request("GET", `${app.url}/`, { headers: { "x-voting-app-version": "9.9" } });
        const got = fake.received[0]!;
        // Its own version, whatever the caller sent.
        assert.equal(got["x-voting-app-version"], "1.0");
    });

    test("analytics text is escaped and kept on one line", async () => {
        fake.reply = { status: 200, body: JSON.stringify({ text: "Cats <b>1</b>\n| Dogs & 2" }), delayMs: 0 };
        const r = await request("GET", `${app.url}/`);
        assert.equal(resultsOf(r.body), "Cats &lt;b&gt;1&lt;/b&gt; | Dogs &amp; 2");
    });

    test('analytics failing → page still 200 with "analytics unavailable"', { timeout: 30_000 }, async () => {
        fake.reply = { status: 503, body: '{"error":"storage unavailable"}', delayMs: 0 };
        let r = await request("GET", `${app.url}/`);
        assert.equal(r.status, 200);
        assert.equal(resultsOf(r.body), "analytics unavailable");

        fake.reply = { status: 200, body: "not json", delayMs: 0 };
        r = await request("GET", `${app.url}/`);
        assert.equal(resultsOf(r.body), "analytics unavailable");

        fake.reply = { status: 200, body: JSON.stringify({ text: "slow" }), delayMs: 3000 }; // > 2 s timeout
        const t0 = Date.now();
        r = await request("GET", `${app.url}/`);
        assert.equal(resultsOf(r.body), "analytics unavailable");
        assert.ok(Date.now() - t0 < 2900, "analytics call times out after ~2 s");

        fake.reply = { status: 200, body: JSON.stringify({ text: "fake analytics text" }), delayMs: 0 };
    });

    test('analytics not listening → page still 200 with "analytics unavailable"', async () => {
        const unused = await freePort();
        const other = await startComponent("app", "1.0", {
            ANALYTICS_HOST: "127.0.0.1",
            ANALYTICS_PORT: String(unused),
        });
        try {
            const r = await request("GET", `${other.url}/`);
            assert.equal(r.status, 200);
            assert.equal(resultsOf(r.body), "analytics unavailable");
        } finally {
            await other.stop("SIGKILL");
        }
    });

    test("feature flag set/clear: 303 to / with the cookie", async () => {
        const set = await request("POST", `${app.url}/featureflag/set`, {
            body: "",
            headers: { "content-type": "application/x-www-form-urlencoded" },
        });
        assert.equal(set.status, 303);
        assert.equal(set.headers.location, "/");
        const setCookie = set.headers["set-cookie"]!.join("\n");
        assert.match(setCookie, /^featureflag=on; Path=\//);
        const clear = await request("POST", `${app.url}/featureflag/clear`, { body: "" });
        assert.equal(clear.status, 303);
        assert.match(clear.headers["set-cookie"]!.join("\n"), /^featureflag=; Path=\/; Max-Age=0/);
        const off = await request("GET", `${app.url}/`);
        assert.match(off.body, /Feature flag: off/);
        assert.match(off.body, /action="\/featureflag\/set"/);
        const on = await request("GET", `${app.url}/`, { headers: { cookie: "featureflag=on" } });
        assert.match(on.body, /Feature flag: on/);
        assert.match(on.body, /action="\/featureflag\/clear"/);
        assert.equal((await request("GET", `${app.url}/featureflag/set`)).status, 405);
    });

    test("TITLE, VOTE values, SHOWDETAILS=false, FEATUREFLAG=false", async () => {
        const other = await startComponent("app", "1.0", {
            ANALYTICS_HOST: "127.0.0.1",
            ANALYTICS_PORT: String(fake.port),
            TITLE: "Pets & Co <vote>",
            VOTE1VALUE: "Rabbits",
            VOTE2VALUE: "Hamsters",
            SHOWDETAILS: "false",
            FEATUREFLAG: "false",
        });
        try {
            const r = await request("GET", `${other.url}/`);
            assert.match(r.body, /<title>Pets &amp; Co &lt;vote&gt;<\/title>/);
            assert.match(r.body, /value="Rabbits" id="vote1">Rabbits</);
            assert.match(r.body, /value="Hamsters" id="vote2">Hamsters</);
            assert.doesNotMatch(r.body, /Host:/);
            assert.doesNotMatch(r.body, /featureflag/);
            assert.equal((await request("POST", `${other.url}/featureflag/set`, { body: "" })).status, 404);
            const v = await request("POST", `${other.url}/`, {
                body: "vote=Cats",
                headers: { "content-type": "application/x-www-form-urlencoded" },
            });
            assert.equal(v.status, 400);
        } finally {
            await other.stop("SIGKILL");
        }
    });
});
