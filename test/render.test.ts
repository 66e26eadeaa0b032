import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as path from "path";
import * as YAML from "yaml";
import { appObjects } from "../mock/runProgram";
import { redact, toYaml } from "../cmd/render";
import { TRAFFIC_APIS } from "../stages/traffic/router";
import { runStage, runStageIn } from "./support/runs";

const root = path.resolve(__dirname, "..");
/** The README's command, through npm. */
const render = (...args: string[]) =>
    spawnSync("npm", ["run", "--silent", "render", "--", ...args], {
        cwd: root,
        encoding: "utf8",
        env: { ...process.env, npm_config_loglevel: "error" },
    });
/** The script npm runs, without npm's start-up cost. */
const renderScript = (...args: string[]) =>
    spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", "cmd/render.ts", ...args], {
        cwd: root,
        encoding: "utf8",
    });

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
        assert.equal(
            renderScript("--stage", "canary", "--canary-weight", "10").stdout,
            first.stdout,
            "two renders differ",
        );
        // What the command prints is toYaml's text of the registered objects, to the byte (the
        // YAML 1.1 check below reads that text for every stage in-process).
        assert.equal(first.stdout, toYaml(appObjects(await runStage("canary", { canaryWeight: "10" }))));
    });

    it("reads the same in a YAML 1.1 reader (kubectl, istioctl, Go tools) as the program meant it, every stage", async function () {
        this.timeout(60000);
        for (const api of TRAFFIC_APIS)
            for (const [stage, weight] of [
                ["deploy", "0"],
                ["update", "0"],
                ["lockdown", "0"],
                ["canary", "30"],
                ["finalize", "0"],
            ]) {
                const objects = appObjects(await runStageIn(api, stage, { canaryWeight: weight }));
                // yaml's 1.1 schema reads yes/no/on/off/y/n as booleans and 12:30 as a number, as Go's readers do.
                const asYaml11 = YAML.parseAllDocuments(toYaml(objects), { version: "1.1" }).map((d) => d.toJS());
                const registered = JSON.parse(JSON.stringify(objects.map(redact)));
                assert.deepEqual(asYaml11, registered, `${api} ${stage}: a YAML 1.1 reader reads something else`);
            }
        const redis = toYaml(appObjects(await runStage("deploy")));
        assert.match(redis, /- "yes"/, "Redis's --appendonly argument is quoted");
    });

    it("--config traffic.api=gateway-api: Gateway API's objects instead of Istio's routing objects, the rest the same", async function () {
        this.timeout(60000);
        const printed = renderScript(
            "--stage",
            "canary",
            "--canary-weight",
            "30",
            "--config",
            "traffic.api=gateway-api",
        );
        assert.equal(printed.status, 0, printed.stderr);
        const objects = appObjects(await runStageIn("gateway-api", "canary", { canaryWeight: "30" }));
        assert.equal(printed.stdout, toYaml(objects));
        const kinds = YAML.parseAllDocuments(printed.stdout).map((d) => {
            const o = d.toJS();
            return `${o.apiVersion} ${o.kind}`;
        });
        assert.deepEqual(
            kinds.filter((k) => /Gateway|HTTPRoute|VirtualService|DestinationRule/.test(k)),
            [
                "gateway.networking.k8s.io/v1 Gateway",
                "gateway.networking.k8s.io/v1 HTTPRoute",
                "gateway.networking.k8s.io/v1 HTTPRoute",
            ],
        );
        // Gateway API's CRDs are cluster objects, not the app namespace's: render leaves them out.
        assert.doesNotMatch(printed.stdout, /CustomResourceDefinition/);
    });

    it("bad input: a clear message on stderr, nothing on stdout, a non-zero exit", function () {
        this.timeout(60000);
        const bad = render("--stage", "bogus");
        assert.notEqual(bad.status, 0);
        assert.equal(bad.stdout, "");
        assert.match(
            bad.stderr,
            /Invalid setting aks-istio-canary:stage = "bogus": expected one of deploy, update, lockdown, canary, finalize/,
        );
        const flag = renderScript("--stag", "canary");
        assert.notEqual(flag.status, 0);
        assert.match(flag.stderr, /--stag/);
    });
});
