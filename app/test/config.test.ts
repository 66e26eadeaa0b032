// COMPONENT/VERSION selection and configuration errors (no storage needed).

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, test } from "node:test";
import { buildAnalytics, percent, resultsText } from "../src/analytics";
import { plan } from "../src/carryVotes";
import { ConfigError, loadCarryConfig, loadConfig } from "../src/config";
import { MAIN_JS } from "./helpers";

function run(env: Record<string, string>): { code: number | null; stderr: string } {
    const r = spawnSync(process.execPath, [MAIN_JS], {
        env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", ...env },
        encoding: "utf8",
        timeout: 10_000,
    });
    return { code: r.status, stderr: r.stderr };
}

describe("invalid COMPONENT/VERSION exits non-zero with a clear message", () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
        [{}, /COMPONENT must be "app" or "analytics", got \(unset\)/],
        [{ COMPONENT: "frontend", VERSION: "1.0" }, /COMPONENT must be "app" or "analytics", got "frontend"/],
        [{ COMPONENT: "app", VERSION: "1.1" }, /VERSION "1.1" is not valid for COMPONENT=app; use one of 1.0, 2.0/],
        [{ COMPONENT: "app" }, /VERSION \(unset\) is not valid for COMPONENT=app/],
        [
            { COMPONENT: "analytics", VERSION: "3.0" },
            /VERSION "3.0" is not valid for COMPONENT=analytics; use one of 1.0, 1.1, 2.0/,
        ],
        [{ COMPONENT: "app", VERSION: "1.0", VOTE1VALUE: "reset" }, /VOTE1VALUE must not be "reset"/],
        [{ COMPONENT: "app", VERSION: "1.0", VOTE2VALUE: "cats" }, /must differ/],
        [{ COMPONENT: "app", VERSION: "1.0", SHOWDETAILS: "maybe" }, /SHOWDETAILS must be true\/false/],
        [{ COMPONENT: "app", VERSION: "1.0", PORT: "http" }, /PORT must be an integer/],
    ];
    for (const [env, message] of cases) {
        test(JSON.stringify(env), () => {
            const r = run(env);
            assert.equal(r.code, 2);
            assert.match(r.stderr, /^voting: configuration error: /);
            assert.match(r.stderr, message);
        });
    }
});

describe("configuration defaults", () => {
    test("defaults match the Kubernetes service names", () => {
        const c = loadConfig({ COMPONENT: "app", VERSION: "2.0" });
        assert.equal(c.port, 8080);
        assert.equal(c.title, "Azure Voting App");
        assert.equal(c.vote1, "Cats");
        assert.equal(c.vote2, "Dogs");
        assert.equal(c.showDetails, true);
        assert.equal(c.featureFlag, true);
        assert.equal(c.store, "mysql");
        assert.deepEqual(c.redis, { host: "voting-storage", port: 6379 });
        assert.equal(c.mysql.host, "voting-storage");
        assert.equal(c.mysql.port, 3306);
        assert.equal(c.analyticsHost, "voting-analytics");
        assert.equal(c.analyticsPort, 8080);
        assert.equal(loadConfig({ COMPONENT: "analytics", VERSION: "1.1" }).store, "redis");
        assert.equal(loadConfig({ COMPONENT: "app", VERSION: "1.0", SHOWDETAILS: "0" }).showDetails, false);
    });
});

describe("carry settings (node dist/carry.js)", () => {
    test("defaults: the storage Services, Cats/Dogs, 60 s of retries, Istio's quit on, no test pause", () => {
        const c = loadCarryConfig({ COMPONENT: "app", VERSION: "2.0" }); // the image's ENV is ignored
        assert.deepEqual(c.redis, { host: "voting-storage", port: 6379 });
        assert.deepEqual(c.mysql, {
            host: "voting-storage",
            port: 3306,
            user: "root",
            password: "",
            database: "votes",
        });
        assert.deepEqual(c.candidates, ["Cats", "Dogs"]);
        assert.equal(c.mode, "seed");
        assert.equal(loadCarryConfig({ CARRY_MODE: "final" }).mode, "final");
        assert.equal(c.timeoutMs, 60000);
        assert.equal(c.istioQuit, true);
        assert.equal(c.istioQuitUrl, "http://127.0.0.1:15020/quitquitquit");
        assert.equal(c.testPause, null);
        assert.equal(loadCarryConfig({ ISTIO_QUIT_ON_EXIT: "false" }).istioQuit, false);
        assert.deepEqual(loadCarryConfig({ CARRY_TEST_PAUSE_AT: "before-commit" }).testPause, {
            at: "before-commit",
            ms: 30000,
        });
    });
    test("bad carry settings are refused", () => {
        for (const [env, message] of [
            [{ VOTE1VALUE: "Dogs" }, /must differ/],
            [{ CARRY_TIMEOUT_MS: "soon" }, /CARRY_TIMEOUT_MS must be an integer/],
            [{ ISTIO_QUIT_ON_EXIT: "maybe" }, /ISTIO_QUIT_ON_EXIT must be true\/false/],
            [{ ISTIO_QUIT_URL: "https://127.0.0.1:15020/quitquitquit" }, /ISTIO_QUIT_URL must be an http:\/\/ URL/],
            [{ CARRY_TEST_PAUSE_AT: "later" }, /CARRY_TEST_PAUSE_AT must be one of after-read, before-commit/],
            [{ CARRY_MODE: "Final" }, /CARRY_MODE must be one of seed, final/],
        ] as Array<[Record<string, string>, RegExp]>) {
            assert.throws(
                () => loadCarryConfig(env),
                (err: unknown) => err instanceof ConfigError && message.test(err.message),
            );
        }
    });
    test("what one carry adds, from Redis's count and reset counter and the watermark", () => {
        assert.deepEqual(plan(10, 0, 0, 0), { added: 10, reason: "new votes" }); // first carry
        assert.deepEqual(plan(10, 0, 10, 0), { added: 0, reason: "new votes" }); // again: nothing
        assert.deepEqual(plan(15, 0, 10, 0), { added: 5, reason: "new votes" });
        assert.deepEqual(plan(15, 1, 10, 0), { added: 15, reason: "redis reset" }); // all since the reset
        assert.deepEqual(plan(15, 1, 15, 1), { added: 0, reason: "new votes" });
        assert.deepEqual(plan(4, 1, 10, 1), { added: 4, reason: "redis count below watermark" });
    });
});

describe("results text", () => {
    test("1.0 and 1.1/2.0 formats", () => {
        const counts = { Cats: 2, Dogs: 4 };
        assert.equal(resultsText("1.0", ["Cats", "Dogs"], counts), "Cats: 2 | Dogs: 4");
        assert.equal(resultsText("1.1", ["Cats", "Dogs"], counts), "Cats: 2/6 (33%) | Dogs: 4/6 (67%)");
        assert.equal(resultsText("2.0", ["Cats", "Dogs"], counts), "Cats: 2/6 (33%) | Dogs: 4/6 (67%)");
        assert.equal(resultsText("2.0", ["Cats", "Dogs"], {}), "Cats: 0/0 (0%) | Dogs: 0/0 (0%)");
        assert.equal(percent(1, 3), 33);
        assert.equal(percent(2, 3), 67);
        assert.equal(percent(1, 2), 50);
        assert.equal(percent(0, 0), 0);
    });
    test("analytics JSON keys", () => {
        assert.deepEqual(buildAnalytics("1.1", "redis", ["Cats", "Dogs"], { Cats: 2, Dogs: 4 }), {
            cats: 2,
            dogs: 4,
            total: 6,
            text: "Cats: 2/6 (33%) | Dogs: 4/6 (67%)",
            counts: { Cats: 2, Dogs: 4 },
            version: "1.1",
            store: "redis",
        });
        // A vote value whose lower-case form clashes with a fixed field is only in `counts`.
        const j = buildAnalytics("1.0", "redis", ["Total", "Dogs"], { Total: 1, Dogs: 1 });
        assert.equal(j.total, 2);
        assert.deepEqual(j.counts, { Total: 1, Dogs: 1 });
    });
});
