// A real browser (Debian's /usr/bin/chromium, driven by playwright-core) against
// app 2.0 + analytics 2.0 on MariaDB. Screenshot: /tmp/voting-app.png

import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { chromium, type BrowserContext } from "playwright-core";
import { Running, services, startComponent, vote } from "./helpers";

const CHROMIUM = process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium";
const SCREENSHOT = "/tmp/voting-app.png";

describe("browser: app 2.0 page in headless Chromium", { skip: !fs.existsSync(CHROMIUM) && `no ${CHROMIUM}` }, () => {
    let app: Running;
    let analytics: Running;
    let context: BrowserContext;
    let profile: string;

    before(async () => {
        await services("start-mysql");
        analytics = await startComponent("analytics", "2.0");
        app = await startComponent("app", "2.0", {
            ANALYTICS_HOST: "127.0.0.1",
            ANALYTICS_PORT: String(analytics.port),
        });
        profile = fs.mkdtempSync(path.join(os.tmpdir(), "voting-chromium-"));
        context = await chromium.launchPersistentContext(profile, {
            executablePath: CHROMIUM,
            headless: true,
            args: [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
            viewport: { width: 800, height: 600 },
            timeout: 60_000,
        });
    });

    after(async () => {
        await context?.close();
        await app?.stop("SIGKILL");
        await analytics?.stop("SIGKILL");
        if (profile) fs.rmSync(profile, { recursive: true, force: true });
    });

    test("vote, feature flag on/off, screenshot", { timeout: 90_000 }, async () => {
        assert.equal((await vote(app.url, "reset")).status, 303);
        const page = await context.newPage();
        await page.goto(app.url + "/");
        assert.equal(await page.title(), "Azure Voting App");
        const results = page.locator("#results");
        assert.equal((await results.textContent())?.trim(), "Cats: 0/0 (0%) | Dogs: 0/0 (0%)");

        await Promise.all([page.waitForURL(app.url + "/"), page.click("#vote1")]);
        await page.waitForFunction(() => document.querySelector("#results")?.textContent?.includes("Cats: 1/1"));
        assert.equal((await results.textContent())?.trim(), "Cats: 1/1 (100%) | Dogs: 0/1 (0%)");
        await page.click("#vote2");
        await page.waitForFunction(() => document.querySelector("#results")?.textContent?.includes("Dogs: 1/2"));
        assert.equal((await results.textContent())?.trim(), "Cats: 1/2 (50%) | Dogs: 1/2 (50%)");

        const state = page.locator("#featureflag-state");
        assert.equal(await state.textContent(), "Feature flag: off");
        await page.click("#featureflag-toggle");
        await page.waitForFunction(
            () => document.querySelector("#featureflag-state")?.textContent === "Feature flag: on",
        );
        const cookies = await context.cookies(app.url);
        const flag = cookies.find((c) => c.name === "featureflag");
        assert.ok(flag, "featureflag cookie set");
        assert.equal(flag.value, "on");
        assert.equal(flag.path, "/");
        assert.match((await page.locator("#footer").textContent()) ?? "", /Store: mysql \| Version: 2\.0/);
        await page.screenshot({ path: SCREENSHOT, fullPage: true });

        await page.click("#featureflag-toggle");
        await page.waitForFunction(
            () => document.querySelector("#featureflag-state")?.textContent === "Feature flag: off",
        );
        assert.equal(
            (await context.cookies(app.url)).find((c) => c.name === "featureflag"),
            undefined,
        );
        assert.ok(fs.statSync(SCREENSHOT).size > 1000);
    });
});
