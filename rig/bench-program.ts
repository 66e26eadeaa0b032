/**
 * Benchmark (not a test): how long the program takes to load and evaluate, and its peak memory, per
 * cluster mode and stage, each run in a fresh process; then the unit suite's wall time. Prints
 * markdown tables.
 *
 *  1. As users run it (`pulumi preview`, `pulumi up`): the command the CLI's Node.js language host
 *     starts, node on @pulumi/pulumi/cmd/run with Pulumi.yaml's runtime options as committed (so
 *     ts-node as cmd/run registers it, with the tsconfig it names), no PULUMI_NODEJS_TRANSPILE_ONLY,
 *     as a new stack's first preview against a stand-in for the engine (mock/languageHost.ts):
 *     milliseconds from node's start to the stack registered (the SDK loaded), to the program's
 *     first resource (its modules loaded), to every resource registered and to exit, the CPU time
 *     node used (all its threads: on a busy machine, the figure that moves least) and its peak RSS.
 *  2. Under Pulumi's mock runtime in one process, transpiled without type checks (what `render`,
 *     `plan` and the unit suite run): module load, a first and a second evaluation, peak RSS.
 *
 *   npm run bench               all of it
 *   npm run bench -- host       1 only
 *   npm run bench -- mock       2 and the unit suite only
 */
import { spawnSync } from "child_process";
import * as os from "os";
import * as path from "path";
import { STAGE_NAMES } from "../stages/model";

const root = path.resolve(__dirname, "..");
const MODES = ["aks", "kubeconfig"] as const;

/** Child: evaluate one stage twice under the mock runtime, report timings and peak RSS as JSON. */
function mockChild(stage: string, mode: string) {
    const started = process.hrtime.bigint();
    // Loaded here, not imported, so that loading it is timed.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { runProgram } = require("../mock/runProgram") as typeof import("../mock/runProgram");
    (async () => {
        const loaded = process.hrtime.bigint();
        const first = await runProgram({ stage, "cluster.mode": mode });
        const cold = process.hrtime.bigint();
        await runProgram({ stage, "cluster.mode": mode });
        const warm = process.hrtime.bigint();
        const ms = (a: bigint, b: bigint) => Number(b - a) / 1e6;
        process.stdout.write(
            JSON.stringify({
                stage,
                resources: first.resources.length,
                loadMs: ms(started, loaded),
                coldMs: ms(loaded, cold),
                warmMs: ms(cold, warm),
                peakRssMb: process.resourceUsage().maxRSS / 1024,
            }),
        );
    })();
}

/** Table 1: the program as the language host loads it. */
async function hostTable(): Promise<void> {
    // Loaded here, not imported: it loads the SDK, which the mock child must load itself, timed.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const host = require("../mock/languageHost") as typeof import("../mock/languageHost");
    const { languageHostCommand, loadCompilation, runAsLanguageHost, runtimeOptions } = host;
    const command = languageHostCommand({
        projectDir: root,
        monitor: "<monitor>",
        engine: "<engine>",
        sync: "<dir>",
        project: "<project>",
        stack: "<stack>",
        config: {},
        dryRun: true,
    });
    const compilation = loadCompilation(root, command.env);
    const runtime = runtimeOptions(root);
    console.log(
        `As \`pulumi preview\` and \`pulumi up\` load it: node ${runtime.nodeargs.join(" ")} ` +
            `${path.relative(root, command.args[runtime.nodeargs.length])} ..., ` +
            `tsconfig ${compilation.tsconfig} (noCheck: ${compilation.transpileOnlyOption ?? "not set"}), so ts-node ` +
            `${compilation.transpileOnly ? "transpiles without type-checking" : "type-checks every file it loads"}; ` +
            "a new stack's first preview against the stand-in engine.\n",
    );
    console.log(
        "| cluster.mode | stage | resources | stack registered ms | first resource ms | all registered ms | exit ms | CPU ms | peak RSS MB |",
    );
    console.log("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for (const mode of MODES) {
        for (const stage of STAGE_NAMES) {
            const run = await runAsLanguageHost({ stage, "cluster.mode": mode });
            if (run.exitCode !== 0 || run.logs.some((l) => l.severity >= 3))
                throw new Error(
                    `${mode}/${stage} failed (exit ${run.exitCode}):\n${run.stderr}\n` +
                        run.logs.map((l) => l.message).join("\n"),
                );
            const f = (n: number) => n.toFixed(0);
            console.log(
                `| ${mode} | ${stage} | ${run.resources.length} | ${f(run.stackRegisteredMs)} | ${f(run.firstResourceMs)} | ${f(run.evaluatedMs)} | ${f(run.exitMs)} | ${f(run.cpuMs)} | ${f(run.peakRssMb)} |`,
            );
        }
    }
    console.log();
}

/** Table 2: the program under the mock runtime, and the unit suite. */
function mockTable(): void {
    const rows: string[] = [];
    for (const mode of MODES) {
        for (const stage of STAGE_NAMES) {
            const child = spawnSync(
                process.execPath,
                ["-r", "ts-node/register/transpile-only", __filename, "--one", stage, mode],
                { cwd: root, encoding: "utf8" },
            );
            if (child.status !== 0) throw new Error(child.stderr);
            const r = JSON.parse(child.stdout);
            rows.push(
                `| ${mode} | ${stage} | ${r.resources} | ${r.loadMs.toFixed(0)} | ${r.coldMs.toFixed(0)} | ${r.warmMs.toFixed(0)} | ${r.peakRssMb.toFixed(0)} |`,
            );
        }
    }
    console.log("Under Pulumi's mock runtime, transpiled without type checks (`render`, `plan`, the unit suite).\n");
    console.log(
        "| cluster.mode | stage | resources | module load ms | first evaluation ms | second evaluation ms | peak RSS MB |",
    );
    console.log("|---|---|---:|---:|---:|---:|---:|");
    rows.forEach((r) => console.log(r));
    const t = Date.now();
    const suite = spawnSync("npx", ["mocha", "--reporter", "dot"], {
        cwd: root,
        encoding: "utf8",
        env: { ...process.env, npm_config_loglevel: "error" },
    });
    const suiteSeconds = (Date.now() - t) / 1000;
    const passing = /(\d+) passing/.exec(suite.stdout)?.[1] ?? "?";
    console.log(
        `\nUnit suite (\`npx mocha\`, ${passing} tests): ${suiteSeconds.toFixed(1)} s wall${suite.status === 0 ? "" : " (FAILED)"}.`,
    );
}

async function main(part: string | undefined): Promise<void> {
    if (part !== undefined && part !== "host" && part !== "mock") throw new Error(`usage: bench [host|mock]`);
    console.log(
        `Measured ${new Date().toISOString().slice(0, 10)} on ${os.cpus().length} cores, Node ${process.version}.\n`,
    );
    if (part !== "mock") await hostTable();
    if (part !== "host") mockTable();
}

if (process.argv[2] === "--one") mockChild(process.argv[3], process.argv[4] ?? "aks");
else
    main(process.argv[2]).catch((err) => {
        console.error(err instanceof Error ? err.message : err);
        process.exitCode = 1;
    });
