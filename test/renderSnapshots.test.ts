/**
 * `render`'s output, stage by stage, against the committed snapshots (snapshots/render): a change
 * to what the program registers must come with its manifest diff, for reviewers to read.
 */
import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import { header, RENDER_SNAPSHOTS, renderSnapshot, SNAPSHOT_DIR, UPDATE_COMMAND } from "../cmd/snapshots";

/** The first line where two texts differ, with both versions, for the failure message. */
function firstDifference(committed: string, rendered: string): string {
    const a = committed.split("\n");
    const b = rendered.split("\n");
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
        if (a[i] !== b[i])
            return `line ${i + 1}: committed ${JSON.stringify(a[i] ?? "(end)")}, rendered now ${JSON.stringify(b[i] ?? "(end)")}`;
    }
    return "no line differs";
}

describe("render snapshots (snapshots/render): the program's manifests, committed", () => {
    for (const snapshot of RENDER_SNAPSHOTS) {
        it(`${snapshot.file}: ${snapshot.command}`, async () => {
            const file = path.join(SNAPSHOT_DIR, snapshot.file);
            assert.ok(
                fs.existsSync(file),
                `snapshots/render/${snapshot.file} is missing: run \`${UPDATE_COMMAND}\` and commit it`,
            );
            const committed = fs.readFileSync(file, "utf8");
            const rendered = header(snapshot) + (await renderSnapshot(snapshot));
            if (committed !== rendered) {
                assert.fail(
                    `the program's output for \`${snapshot.command}\` differs from snapshots/render/${snapshot.file} (${firstDifference(committed, rendered)}). ` +
                        `If the change is meant, run \`${UPDATE_COMMAND}\` and commit the snapshot with it.`,
                );
            }
        });
    }

    it("every file in snapshots/render is one of them (no stale snapshot)", () => {
        assert.deepEqual(fs.readdirSync(SNAPSHOT_DIR).sort(), RENDER_SNAPSHOTS.map((s) => s.file).sort());
    });

    it("both traffic APIs: each stage and the canary at 30 in istio (the plain names) and in gateway-api (gateway-api-*.yaml)", () => {
        const of = (api: string) =>
            RENDER_SNAPSHOTS.filter((s) => (s.config["traffic.api"] ?? "istio") === api).map((s) => s.file);
        const plain = ["deploy", "update", "lockdown", "canary", "finalize", "canary-weight-30"].map(
            (n) => `${n}.yaml`,
        );
        assert.deepEqual(of("istio"), plain);
        assert.deepEqual(
            of("gateway-api"),
            plain.map((f) => `gateway-api-${f}`),
        );
        for (const s of RENDER_SNAPSHOTS.filter((x) => x.config["traffic.api"]))
            assert.match(s.command, / --config traffic\.api=gateway-api$/, s.file);
    });
});
