/**
 * Benchmark (not a test): program evaluation time and peak memory per stage under Pulumi's mock
 * runtime, each stage in a fresh process (cold: module loading included) and then warm (a second
 * run in the same process), and the unit suite's total wall time. Prints a markdown table.
 *
 *   npm run bench
 */
import { spawnSync } from "child_process";
import * as os from "os";
import * as path from "path";
import { STAGE_NAMES } from "../stages/model";

const root = path.resolve(__dirname, "..");

if (process.argv[2] === "--one") {
    // Child: evaluate one stage twice, report timings and peak RSS as JSON.
    const stage = process.argv[3];
    const started = process.hrtime.bigint();
    // Loaded here, not imported, so that loading it is timed.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { runProgram } = require("../mock/runProgram") as typeof import("../mock/runProgram");
    (async () => {
        const loaded = process.hrtime.bigint();
        const first = await runProgram({ stage, "cluster.mode": process.argv[4] ?? "aks" });
        const cold = process.hrtime.bigint();
        await runProgram({ stage, "cluster.mode": process.argv[4] ?? "aks" });
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
} else {
    const rows: string[] = [];
    for (const mode of ["aks", "kubeconfig"]) {
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
    const t = Date.now();
    const suite = spawnSync("npx", ["mocha", "--reporter", "dot"], {
        cwd: root,
        encoding: "utf8",
        env: { ...process.env, npm_config_loglevel: "error" },
    });
    const suiteSeconds = (Date.now() - t) / 1000;
    const passing = /(\d+) passing/.exec(suite.stdout)?.[1] ?? "?";
    console.log(
        `Measured ${new Date().toISOString().slice(0, 10)} on ${os.cpus().length} cores, Node ${process.version}.\n`,
    );
    console.log(
        "| cluster.mode | stage | resources | module load ms | first evaluation ms | second evaluation ms | peak RSS MB |",
    );
    console.log("|---|---|---:|---:|---:|---:|---:|");
    rows.forEach((r) => console.log(r));
    console.log(
        `\nUnit suite (\`npx mocha\`, ${passing} tests): ${suiteSeconds.toFixed(1)} s wall${suite.status === 0 ? "" : " (FAILED)"}.`,
    );
}
