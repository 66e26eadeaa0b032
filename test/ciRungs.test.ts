/**
 * CI cannot hide a lost rung: a test left with `.only` would run alone and the rest would vanish
 * from the counts, so every mocha run of `npm test` refuses it (the unit suite's .mocharc.json and
 * the walk's command line in e2e/run.sh, read from the files themselves).
 */
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const ROOT = path.resolve(__dirname, "..");

describe("CI cannot hide a lost rung", () => {
    it("the unit suite's mocha refuses a test marked .only (control: without the setting it runs)", function () {
        this.timeout(60_000);
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "only-"));
        try {
            const spec = path.join(dir, "only.test.js");
            fs.writeFileSync(spec, 'it.only("alone", () => {}); it("hidden", () => {});\n');
            const mocha = path.join(ROOT, "node_modules", ".bin", "mocha");
            // The suite's own settings, less its spec (which would run the whole suite again).
            const settings = JSON.parse(fs.readFileSync(path.join(ROOT, ".mocharc.json"), "utf8"));
            delete settings.spec;
            const config = path.join(dir, ".mocharc.json");
            fs.writeFileSync(config, JSON.stringify(settings));
            const withConfig = spawnSync(mocha, ["--config", config, spec], {
                cwd: ROOT,
                encoding: "utf8",
            });
            assert.notEqual(withConfig.status, 0, withConfig.stdout);
            assert.match(withConfig.stdout + withConfig.stderr, /forbidden by --forbid-only/);
            const without = spawnSync(mocha, ["--no-config", spec], { cwd: ROOT, encoding: "utf8" });
            assert.equal(without.status, 0, without.stdout + without.stderr);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("the end-to-end walk's mocha refuses .only too", () => {
        const run = fs.readFileSync(path.join(ROOT, "e2e", "run.sh"), "utf8");
        const mochaLine = run.split("\n").find((l) => /npx --no-install mocha/.test(l));
        assert.ok(mochaLine, "e2e/run.sh runs mocha");
        const command = run.slice(run.indexOf(mochaLine!)).split("\n").slice(0, 2).join(" ");
        assert.match(command, /--forbid-only/);
    });
});
