import assert from "node:assert/strict";
import { test } from "node:test";
import { versionSuite } from "./suite";
import { text11 } from "./texts";

test("expected 1.1 texts", () => {
    assert.equal(text11(2, 4), "Cats: 2/6 (33%) | Dogs: 4/6 (67%)");
    assert.equal(text11(0, 0), "Cats: 0/0 (0%) | Dogs: 0/0 (0%)");
});

versionSuite({
    appVersion: "1.0",
    analyticsVersion: "1.1",
    store: "redis",
    text24: "Cats: 2/6 (33%) | Dogs: 4/6 (67%)",
    text00: "Cats: 0/0 (0%) | Dogs: 0/0 (0%)",
    textFor: text11,
});
