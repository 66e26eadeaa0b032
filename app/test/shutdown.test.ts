// SIGTERM/SIGINT: stop accepting, finish in-flight requests, close storage, exit 0.

import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { startFakeAnalytics } from "./fake-analytics";
import { request, resultsOf, services, sleep, startComponent } from "./helpers";

describe("graceful shutdown", () => {
    before(async () => {
        await services("start-redis");
        await services("start-mysql");
    });

    for (const version of ["1.0", "2.0"]) {
        test(`app ${version}: SIGTERM during a request → request completes, exit code 0`, async () => {
            const fake = await startFakeAnalytics();
            fake.reply = { status: 200, body: JSON.stringify({ text: "slow but fine" }), delayMs: 800 };
            const app = await startComponent("app", version, {
                ANALYTICS_HOST: "127.0.0.1",
                ANALYTICS_PORT: String(fake.port),
            });
            try {
                const inFlight = request("GET", `${app.url}/`);
                await sleep(200);
                app.proc.kill("SIGTERM");
                await sleep(100);
                // no new connections once shutdown started
                await assert.rejects(request("GET", `${app.url}/healthz`, { newConnection: true }));
                const r = await inFlight;
                assert.equal(r.status, 200);
                assert.equal(resultsOf(r.body), "slow but fine");
                assert.equal(await app.exited, 0);
                assert.match(app.output(), /stopped cleanly/);
            } finally {
                await app.stop("SIGKILL");
                await fake.close();
            }
        });
    }

    for (const version of ["1.1", "2.0"]) {
        test(`analytics ${version}: SIGINT with idle keep-alive connections → exit code 0`, async () => {
            const a = await startComponent("analytics", version);
            const r = await request("GET", `${a.url}/analytics`); // leaves a keep-alive socket open
            assert.equal(r.status, 200);
            const t0 = Date.now();
            a.proc.kill("SIGINT");
            assert.equal(await a.exited, 0);
            assert.ok(Date.now() - t0 < 3000, "idle connections do not hold the shutdown");
        });
    }
});
