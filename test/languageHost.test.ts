/**
 * The program as users run it (`pulumi preview`, `pulumi up`, each step of `npm run promote`): the
 * CLI's Node.js language host starts node on the SDK's cmd/run with Pulumi.yaml's runtime options
 * (mock/languageHost.ts builds that command and stands in for the engine). It loads the program
 * without a type check, as the tsconfig Pulumi.yaml names says (noCheck); the type check guards every
 * change before any stack sees it: `npm run typecheck` (tsconfig.json) in `npm test` and in the
 * pull-request checks.
 */
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { HostRun, languageHostCommand, loadCompilation, runAsLanguageHost, runtimeOptions } from "../mock/languageHost";
import { runProgram } from "../mock/runProgram";

const ROOT = path.resolve(__dirname, "..");

/** The environment the language host gives cmd/run for this project (Pulumi.yaml as committed). */
function hostEnv(projectDir: string = ROOT): NodeJS.ProcessEnv {
    return languageHostCommand({
        projectDir,
        monitor: "127.0.0.1:1",
        engine: "127.0.0.1:1",
        sync: os.tmpdir(),
        project: "p",
        stack: "s",
        config: {},
        dryRun: true,
    }).env;
}

/** A folder with this project's settings files, `files` and a link to its node_modules. */
function scratchProject(files: Record<string, string>, copied: string[]): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "host-"));
    for (const file of copied) fs.copyFileSync(path.join(ROOT, file), path.join(dir, file));
    fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(dir, "node_modules"));
    for (const [file, text] of Object.entries(files)) {
        fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
        fs.writeFileSync(path.join(dir, file), text);
    }
    return dir;
}

const errors = (run: HostRun) => run.logs.filter((l) => l.severity >= 3).map((l) => l.message);

describe("the program as the language host loads it (Pulumi.yaml as committed)", function () {
    this.timeout(180_000);

    it("Pulumi.yaml names a tsconfig whose noCheck makes cmd/run load without a type check (control: tsconfig.json alone type-checks)", () => {
        const options = runtimeOptions();
        assert.equal(options.typescript, true, "the language host loads index.ts through ts-node");
        assert.notEqual(options.tsconfig, "", "Pulumi.yaml: runtime.options.tsconfig");
        const committed = loadCompilation(ROOT, hostEnv());
        assert.equal(committed.tsconfig, options.tsconfig, "cmd/run reads the tsconfig Pulumi.yaml names");
        assert.equal(committed.transpileOnlyOption, true, `${committed.tsconfig}: compilerOptions.noCheck`);
        assert.equal(committed.transpileOnly, true, "ts-node compiles without type-checking");
        const { PULUMI_NODEJS_TSCONFIG_PATH: named, ...withoutOption } = hostEnv();
        assert.equal(named, options.tsconfig);
        const control = loadCompilation(ROOT, withoutOption);
        assert.equal(control.tsconfig, "tsconfig.json");
        assert.equal(control.transpileOnly, false, "without the option, cmd/run's ts-node type-checks");
    });

    it("ts-node compiles the program with the options tsconfig.json gives it, noCheck aside", () => {
        const { PULUMI_NODEJS_TSCONFIG_PATH: named, ...withoutOption } = hostEnv();
        assert.ok(named);
        const strip = (options: Record<string, unknown>) => {
            const { noCheck, configFilePath, ...rest } = options;
            void noCheck;
            void configFilePath;
            return rest;
        };
        const committed = loadCompilation(ROOT, hostEnv()).compilerOptions;
        const before = loadCompilation(ROOT, withoutOption).compilerOptions;
        assert.equal(committed.noCheck, true);
        assert.equal(before.noCheck, undefined);
        assert.deepEqual(strip(committed), strip(before));
    });

    it("a type error does not stop the program at load; named tsconfig left out, the language host refuses it", async () => {
        const program = 'const wrong: number = "not a number";\nexport = async () => ({ wrong });\n';
        const settings = ["Pulumi.yaml", "package.json", "tsconfig.json", runtimeOptions().tsconfig];
        const dir = scratchProject({ "index.ts": program }, settings);
        try {
            const loaded = await runAsLanguageHost({}, { projectDir: dir });
            assert.deepEqual(errors(loaded), [], loaded.stderr);
            assert.equal(loaded.exitCode, 0, loaded.stderr);
            assert.ok(
                loaded.resources.some((r) => r.type === "pulumi:pulumi:Stack") && loaded.evaluatedMs > 0,
                "the program ran and its outputs were registered",
            );
            // Control: the same program, Pulumi.yaml without runtime.options.tsconfig.
            const yaml = fs.readFileSync(path.join(dir, "Pulumi.yaml"), "utf8");
            const without = yaml.replace(/^ {4}tsconfig: .*\n/m, "");
            assert.notEqual(without, yaml, "the option was found in Pulumi.yaml");
            fs.writeFileSync(path.join(dir, "Pulumi.yaml"), without);
            const checked = await runAsLanguageHost({}, { projectDir: dir });
            assert.notEqual(checked.exitCode, 0);
            assert.match(errors(checked).join("\n") + checked.stderr, /TS2322/);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    for (const config of [
        { stage: "canary", "cluster.mode": "kubeconfig" },
        { stage: "deploy", "cluster.mode": "aks" },
    ]) {
        it(`loaded by cmd/run, the program registers what it registers under the mock runtime (${config["cluster.mode"]}, ${config.stage}, first preview)`, async () => {
            const loaded = await runAsLanguageHost(config);
            assert.deepEqual(errors(loaded), [], loaded.stderr);
            assert.equal(loaded.exitCode, 0, loaded.stderr);
            const key = (r: { type: string; name: string; read: boolean }) =>
                `${r.read ? "read " : ""}${r.type}::${r.name}`;
            const mocked = await runProgram(config, {}, { preview: true });
            assert.deepEqual(
                loaded.resources
                    .filter((r) => r.type !== "pulumi:pulumi:Stack")
                    .map(key)
                    .sort(),
                mocked.resources.map(key).sort(),
            );
            // Node's flags (runtime.options.nodeargs) leave the source positions the SDK records.
            const routes = loaded.resources.filter((r) => r.type.startsWith("kubernetes:networking.istio.io/"));
            assert.ok(routes.length > 0);
            for (const r of routes)
                assert.match(r.sourcePosition ?? "", /\/components\/votingApp\/traffic\.ts:\d+$/, key(r));
        });
    }

    it("a bad setting stops the program with its message and the line it was thrown at", async () => {
        const loaded = await runAsLanguageHost({ stage: "bogus", "cluster.mode": "kubeconfig" });
        assert.notEqual(loaded.exitCode, 0);
        const message = errors(loaded).join("\n");
        assert.match(message, /SettingError: Invalid setting aks-istio-canary:stage = "bogus"/);
        assert.match(message, /at parseStage .*stages\/settings\.ts:\d+:\d+/);
        assert.deepEqual(
            loaded.resources.map((r) => r.type),
            ["pulumi:pulumi:Stack"],
            "nothing registered but the stack",
        );
    });
});

describe("the type check still guards every change", function () {
    this.timeout(120_000);

    it("`npm run typecheck` fails on a type error in index.ts, components/ and stages/", () => {
        const wrong = 'export const wrong: number = "not a number";\n';
        const dir = scratchProject({ "index.ts": wrong, "components/wrong.ts": wrong, "stages/wrong.ts": wrong }, [
            "package.json",
            "tsconfig.json",
        ]);
        try {
            const run = spawnSync("npm", ["run", "--silent", "typecheck"], { cwd: dir, encoding: "utf8" });
            assert.notEqual(run.status, 0, run.stdout + run.stderr);
            for (const file of ["index.ts", "components/wrong.ts", "stages/wrong.ts"])
                assert.match(run.stdout, new RegExp(`^${file.replace(".", "\\.")}\\(1,14\\): error TS2322`, "m"));
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("`npm test` and the pull-request checks run it with tsconfig.json, which checks types", () => {
        const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));
        assert.equal(pkg.scripts.typecheck, "tsc --noEmit -p .");
        assert.match(
            fs.readFileSync(path.join(ROOT, "scripts", "test.sh"), "utf8"),
            /^timed npx --no-install tsc --noEmit -p \. ;/m,
        );
        const workflow = fs.readFileSync(path.join(ROOT, ".github", "workflows", "pull-request.yml"), "utf8");
        assert.match(workflow, /run: npm run typecheck &&/);
        // tsc reads tsconfig.json's noCheck too (it then reports no type error at all): it must not be there.
        const tsconfig = fs.readFileSync(path.join(ROOT, "tsconfig.json"), "utf8");
        assert.doesNotMatch(tsconfig, /noCheck/);
    });
});
