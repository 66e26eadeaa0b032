import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as path from "path";
import * as YAML from "yaml";
import { appObjects } from "../mock/runProgram";
import { redact } from "../mock/render";
import { runStage } from "./support/runs";

const root = path.resolve(__dirname, "..");
/** The README's command, through npm. */
const render = (...args: string[]) =>
    spawnSync("npm", ["run", "--silent", "render", "--", ...args], { cwd: root, encoding: "utf8", env: { ...process.env, npm_config_loglevel: "error" } });
/** The script npm runs, without npm's start-up cost. */
const renderScript = (...args: string[]) =>
    spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", "mock/render.ts", ...args], { cwd: root, encoding: "utf8" });

describe("render (npm run --silent render -- --stage <name>)", () => {
    it("prints the objects the program registers for the stage, Secret values redacted, deterministically", async function () {
        this.timeout(60000);
        const first = render("--stage", "canary", "--canary-weight", "10");
        assert.equal(first.status, 0, first.stderr);
        const printed = YAML.parseAllDocuments(first.stdout).map((d) => d.toJS());
        const registered = appObjects(await runStage("canary", { canaryWeight: "10" })).map(redact);
        assert.deepEqual(printed, JSON.parse(JSON.stringify(registered)));
        const secret = printed.find((o) => o.kind === "Secret");
        assert.deepEqual(Object.values(secret.stringData), ["<redacted>", "<redacted>", "<redacted>", "<redacted>"]);
        assert.doesNotMatch(first.stdout, /mock-mysql-password/);
        assert.ok(printed.some((o) => o.kind === "Gateway"));
        assert.equal(renderScript("--stage", "canary", "--canary-weight", "10").stdout, first.stdout, "two renders differ");
    });

    it("bad input: a clear message on stderr, nothing on stdout, a non-zero exit", function () {
        this.timeout(60000);
        const bad = render("--stage", "bogus");
        assert.notEqual(bad.status, 0);
        assert.equal(bad.stdout, "");
        assert.match(bad.stderr, /Invalid setting aks-istio-canary:stage = "bogus": expected one of deploy, update, lockdown, canary, finalize/);
        const flag = renderScript("--stag", "canary");
        assert.notEqual(flag.status, 0);
        assert.match(flag.stderr, /--stag/);
    });
});
