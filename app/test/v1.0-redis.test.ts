import assert from "node:assert/strict";
import { test } from "node:test";
import { versionSuite } from "./suite";
import { text10 } from "./texts";

test("expected 1.0 texts", () => {
    assert.equal(text10(2, 4), "Cats: 2 | Dogs: 4");
});

versionSuite({
    appVersion: "1.0",
    analyticsVersion: "1.0",
    store: "redis",
    text24: "Cats: 2 | Dogs: 4",
    text00: "Cats: 0 | Dogs: 0",
    textFor: text10,
});
