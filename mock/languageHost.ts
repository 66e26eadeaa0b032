/**
 * The program as `pulumi preview` and `pulumi up` run it: the command the CLI's Node.js language
 * host starts, built from Pulumi.yaml as committed, against a stand-in for the engine.
 *
 * The language host (pulumi-language-nodejs, a Go program; sdk/nodejs/cmd/pulumi-language-nodejs/
 * main.go, `parseOptions`, `execRuntime` and `constructArguments`) starts
 *
 *     node [runtime.options.nodeargs] <@pulumi/pulumi/cmd/run, resolved from the program's folder>
 *          --monitor <addr> --engine <addr> --sync <dir> --organization <org> --project <name>
 *          --root-directory <dir> --stack <stack> --pwd <dir> [--dry-run] --parallel <n> <main, else ".">
 *
 * with PULUMI_CONFIG and PULUMI_CONFIG_SECRET_KEYS (the stack's settings), PULUMI_NODEJS_TYPESCRIPT=true
 * (runtime.options.typescript, true unless it says false) and PULUMI_NODEJS_TSCONFIG_PATH
 * (runtime.options.tsconfig, when given) added to the user's environment. The SDK's cmd/run then
 * registers ts-node with that tsconfig, type-checking unless the tsconfig says `noCheck` (or the user
 * sets PULUMI_NODEJS_TRANSPILE_ONLY, which this leaves out), and requires the program.
 *
 * That Go program cannot be built here (its module is not on the Go module proxy), so `runAsLanguageHost`
 * starts the same node command itself and serves the two gRPC services the SDK talks to, ResourceMonitor
 * and Engine, from this process: registrations and invokes are answered by the SDK's own MockMonitor
 * with the mock runtime's stand-ins (mock/runProgram.ts), as a new stack's first preview (`--dry-run`).
 * What it hides: the language host itself (its proxy in front of the monitor, node's lookup on PATH,
 * its pipes), the engine's and the providers' work between a registration and its answer, and output
 * values (the monitor, like the mock runtime, does not take them). TESTING.md, "Stand-ins".
 */
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import { createRequire } from "module";
import * as os from "os";
import * as path from "path";
import { MockMonitor } from "@pulumi/pulumi/runtime/mocks";
import * as YAML from "yaml";
import { engineConfig, PROJECT_DIR, StackConfig, StandInMocks } from "./runProgram";

/** Modules resolved as the SDK resolves them, so the proto messages and gRPC are the SDK's own. */
const sdkRequire = createRequire(require.resolve("@pulumi/pulumi/package.json"));
const grpc = sdkRequire("@grpc/grpc-js");
const resrpc = sdkRequire("./proto/resource_grpc_pb");
const resproto = sdkRequire("./proto/resource_pb");
const engrpc = sdkRequire("./proto/engine_grpc_pb");
const engproto = sdkRequire("./proto/engine_pb");
const emptyproto = sdkRequire("google-protobuf/google/protobuf/empty_pb");
/** The SDK's runtime settings: `_setIsDryRun` is not in its typings. */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const sdkSettings = require("@pulumi/pulumi/runtime/settings") as {
    isDryRun(): boolean;
    _setIsDryRun(dryRun: boolean): void;
};

/** Pulumi.yaml's runtime options for nodejs, read as the language host's `parseOptions` reads them. */
export interface RuntimeOptions {
    typescript: boolean;
    /** runtime.options.tsconfig: handed to cmd/run as PULUMI_NODEJS_TSCONFIG_PATH ("" when not given). */
    tsconfig: string;
    nodeargs: string[];
    /** Pulumi.yaml's `main`: the entry point the engine passes ("." when not given). */
    main: string;
}

export function runtimeOptions(projectDir: string = PROJECT_DIR): RuntimeOptions {
    const project = YAML.parse(fs.readFileSync(path.join(projectDir, "Pulumi.yaml"), "utf8"));
    const runtime = typeof project.runtime === "string" ? { name: project.runtime } : project.runtime;
    if (runtime?.name !== "nodejs")
        throw new Error(`Pulumi.yaml: runtime ${JSON.stringify(runtime?.name)}, not nodejs`);
    const options = runtime.options ?? {};
    const typed = (key: string, type: string, fallback: unknown) => {
        if (options[key] === undefined) return fallback;
        if (typeof options[key] !== type) throw new Error(`Pulumi.yaml: runtime.options.${key} must be a ${type}`);
        return options[key];
    };
    const nodeargs = typed("nodeargs", "string", "") as string;
    // The language host splits nodeargs as a shell would (shlex); quotes are not needed here.
    if (/["'\\]/.test(nodeargs))
        throw new Error("runtime.options.nodeargs with quotes: not supported by this stand-in");
    return {
        typescript: typed("typescript", "boolean", true) as boolean,
        tsconfig: typed("tsconfig", "string", "") as string,
        nodeargs: nodeargs.split(/\s+/).filter(Boolean),
        main: typeof project.main === "string" && project.main ? project.main : ".",
    };
}

/** What the language host's environment holds beyond the user's: the variables it sets itself. */
const HOST_VARIABLES = [
    "PULUMI_CONFIG",
    "PULUMI_CONFIG_SECRET_KEYS",
    "PULUMI_NODEJS_TYPESCRIPT",
    "PULUMI_NODEJS_TSCONFIG_PATH",
    // Not the language host's: a user may set it, and it turns type-checking off whatever the
    // tsconfig says. Left out, so what is measured and tested is the committed configuration.
    "PULUMI_NODEJS_TRANSPILE_ONLY",
];

export interface HostCommand {
    node: string;
    args: string[];
    env: NodeJS.ProcessEnv;
    cwd: string;
}

/** The command the language host starts for a run of the program in `projectDir`. */
export function languageHostCommand(opts: {
    projectDir: string;
    monitor: string;
    engine: string;
    sync: string;
    project: string;
    stack: string;
    config: Record<string, string>;
    secretKeys?: string[];
    dryRun: boolean;
    parallel?: number;
}): HostCommand {
    const runtime = runtimeOptions(opts.projectDir);
    const runPath = require.resolve("@pulumi/pulumi/cmd/run", { paths: [opts.projectDir] });
    const args = [
        ...runtime.nodeargs,
        runPath,
        ...["--monitor", opts.monitor, "--engine", opts.engine, "--sync", opts.sync],
        ...["--organization", "organization", "--project", opts.project, "--root-directory", opts.projectDir],
        ...["--stack", opts.stack, "--pwd", opts.projectDir],
        ...(opts.dryRun ? ["--dry-run"] : []),
        // The CLI's default: 4 per CPU (pkg/cmd/pulumi/operations/up.go, defaultParallel).
        ...["--parallel", String(opts.parallel ?? 4 * os.cpus().length)],
        runtime.main,
    ];
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const name of HOST_VARIABLES) delete env[name];
    env.PULUMI_CONFIG = JSON.stringify(
        // The language host hands older SDKs `<project>:config:<key>`; the SDK reads both forms.
        Object.fromEntries(
            Object.entries(opts.config).map(([k, v]) => {
                const at = k.indexOf(":");
                return [`${k.slice(0, at)}:config:${k.slice(at + 1)}`, v];
            }),
        ),
    );
    env.PULUMI_CONFIG_SECRET_KEYS = JSON.stringify(opts.secretKeys ?? []);
    if (runtime.typescript) env.PULUMI_NODEJS_TYPESCRIPT = "true";
    if (runtime.tsconfig) env.PULUMI_NODEJS_TSCONFIG_PATH = runtime.tsconfig;
    return { node: process.execPath, args, env, cwd: opts.projectDir };
}

/** How the SDK's cmd/run registers ts-node for a run: with which tsconfig and options, checking types or not. */
export interface LoadCompilation {
    /** The tsconfig cmd/run reads (PULUMI_NODEJS_TSCONFIG_PATH, else tsconfig.json), relative to the program. */
    tsconfig: string;
    /** What cmd/run passes ts-node as `transpileOnly`: PULUMI_NODEJS_TRANSPILE_ONLY, else the tsconfig's noCheck. */
    transpileOnlyOption: boolean | undefined;
    /** What the ts-node service made from those options does: true when it compiles without checking types. */
    transpileOnly: boolean;
    /** The compiler options ts-node ends up with (the tsconfig, `extends` followed, and cmd/run's overrides). */
    compilerOptions: Record<string, unknown>;
}

/**
 * The ts-node service cmd/run would register for a run of the program in `projectDir` with the
 * language host's `env` (languageHostCommand's), made with the SDK's own helpers
 * (tsutils.loadTypeScriptCompilerOptions, which reads the tsconfig's own compilerOptions without
 * following `extends`, and typeScriptRequireStrings) and the few lines of cmd/run/run.js
 * (@pulumi/pulumi 3.276, `run`, CommonJS branch) that pick `transpileOnly` and the compiler options.
 */
export function loadCompilation(projectDir: string, env: NodeJS.ProcessEnv): LoadCompilation {
    // Internal to the SDK (not in its typings): read as cmd/run reads them.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const tsutils = require("@pulumi/pulumi/tsutils");
    const tsconfig = env.PULUMI_NODEJS_TSCONFIG_PATH ?? "tsconfig.json";
    const tsconfigPath = path.resolve(projectDir, tsconfig);
    const compilerOptions = tsutils.loadTypeScriptCompilerOptions(tsconfigPath);
    const transpileOnlyOption: boolean | undefined = env.PULUMI_NODEJS_TRANSPILE_ONLY
        ? env.PULUMI_NODEJS_TRANSPILE_ONLY === "true"
        : compilerOptions.noCheck;
    const { tsnodeRequire, typescriptRequire } = tsutils.typeScriptRequireStrings();
    const tsNode = sdkRequire(tsnodeRequire);
    const service = tsNode.create({
        cwd: projectDir,
        compiler: typescriptRequire,
        transpileOnly: transpileOnlyOption,
        project: tsconfigPath,
        skipProject: !fs.existsSync(tsconfigPath),
        // TypeScript >= 4.7 and a CommonJS package: cmd/run's defaults, under the tsconfig's own options.
        compilerOptions: {
            target: "ES2020",
            module: "nodenext",
            moduleResolution: "nodenext",
            sourceMap: "true",
            ...compilerOptions,
        },
    });
    return {
        tsconfig,
        transpileOnlyOption,
        transpileOnly: service.transpileOnly === true,
        compilerOptions: service.config.options,
    };
}

export interface HostRun {
    exitCode: number | null;
    stdout: string;
    stderr: string;
    /** What the program logged through the engine (warnings, errors), in order. */
    logs: { severity: number; message: string }[];
    /** Every registration and read, in the order they reached the monitor. */
    resources: { urn: string; type: string; name: string; read: boolean; sourcePosition?: string }[];
    /** ms from the start of node until the SDK registered the stack (before the program is loaded). */
    stackRegisteredMs: number;
    /** ms until the program's first resource (the SDK, ts-node and the program's modules loaded). */
    firstResourceMs: number;
    /** ms until the stack's outputs were registered: every resource registered, the program done. */
    evaluatedMs: number;
    /** ms until node exited. */
    exitMs: number;
    /** The node process's peak resident set (VmHWM), MB; NaN where /proc is not there to read. */
    peakRssMb: number;
    /** CPU time node used (user and system, all its threads) until it signalled shutdown, ms; NaN without /proc. */
    cpuMs: number;
}

/** The peak resident set of a live process so far, in kB (0 when it cannot be read). */
function highWaterKb(pid: number | undefined): number {
    if (pid === undefined) return 0;
    try {
        const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
        return Number(/^VmHWM:\s+(\d+) kB$/m.exec(status)?.[1] ?? 0);
    } catch {
        return 0;
    }
}

/** The CPU time a live process used so far (user and system, in clock ticks of 10 ms), in ms; NaN when unreadable. */
function cpuTimeMs(pid: number | undefined): number {
    if (pid === undefined) return NaN;
    try {
        // Fields after the command's closing parenthesis: state is the 3rd field, utime the 14th, stime the 15th.
        const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
        return (Number(fields[11]) + Number(fields[12])) * 10;
    } catch {
        return NaN;
    }
}

/**
 * Runs the program in `projectDir` as the language host does, as a new stack's first preview, with
 * `config` (keys without the project prefix) over Pulumi.yaml's defaults; resolves when node exits.
 */
export async function runAsLanguageHost(
    config: StackConfig = {},
    opts: { projectDir?: string; stack?: string } = {},
): Promise<HostRun> {
    const projectDir = opts.projectDir ?? PROJECT_DIR;
    const projectName: string = YAML.parse(fs.readFileSync(path.join(projectDir, "Pulumi.yaml"), "utf8")).name;
    const stack = opts.stack ?? "bench";
    const mocks = new StandInMocks(true);
    const monitor = new MockMonitor(mocks);
    // The MockMonitor names URNs after this process's stack and project: here, after the run's.
    const newUrn = (parent: string, type: string, name: string): string => {
        const qualified = parent ? `${parent.split("::")[2].split("$").pop()}$${type}` : type;
        return `urn:pulumi:${stack}::${projectName}::${qualified}::${name}`;
    };
    (monitor as any).newUrn = newUrn;

    /** Set when node is started: every time is from then. */
    let started = NaN;
    const at = () => performance.now() - started;
    const run: Omit<HostRun, "exitCode" | "stdout" | "stderr" | "exitMs" | "peakRssMb" | "cpuMs"> = {
        logs: [],
        resources: [],
        stackRegisteredMs: NaN,
        firstResourceMs: NaN,
        evaluatedMs: NaN,
    };
    let child: ChildProcess | undefined;
    let peakKb = 0;
    let cpuMs = NaN;
    const sample = () => (peakKb = Math.max(peakKb, highWaterKb(child?.pid)));
    let rootUrn = "";
    const registered = (req: any, read: boolean) => {
        const type: string = req.getType();
        const urn = newUrn(req.getParent(), type, req.getName());
        const position = req.getSourceposition?.();
        run.resources.push({
            urn,
            type,
            name: req.getName(),
            read,
            sourcePosition: position ? `${position.getUri()}:${position.getLine()}` : undefined,
        });
        if (type === "pulumi:pulumi:Stack") run.stackRegisteredMs = at();
        else if (Number.isNaN(run.firstResourceMs)) run.firstResourceMs = at();
    };
    const empty = (callback: any) => (err: unknown) => callback(err ?? null, err ? undefined : new emptyproto.Empty());

    const server = new grpc.Server();
    server.addService(resrpc.ResourceMonitorService, {
        supportsFeature: (call: any, callback: any) => {
            const response = new resproto.SupportsFeatureResponse();
            response.setHassupport(call.request.getId() !== "outputValues");
            callback(null, response);
        },
        getDeploymentInfo: (call: any, callback: any) => monitor.getDeploymentInfo(call.request, callback),
        registerPackage: (call: any, callback: any) => monitor.registerPackage(call.request, callback),
        invoke: (call: any, callback: any) => monitor.invoke(call.request, callback),
        registerResource: (call: any, callback: any) => {
            registered(call.request, false);
            monitor.registerResource(call.request, callback);
        },
        readResource: (call: any, callback: any) => {
            registered(call.request, true);
            monitor.readResource(call.request, callback);
        },
        registerResourceOutputs: (call: any, callback: any) => {
            if (call.request.getUrn() === rootUrn) run.evaluatedMs = at();
            monitor.registerResourceOutputs(call.request, empty(callback));
        },
        signalAndWaitForShutdown: (_call: any, callback: any) => {
            sample();
            cpuMs = cpuTimeMs(child?.pid);
            callback(null, new emptyproto.Empty());
        },
    });
    server.addService(engrpc.EngineService, {
        log: (call: any, callback: any) => {
            run.logs.push({ severity: call.request.getSeverity(), message: call.request.getMessage() });
            callback(null, new emptyproto.Empty());
        },
        getRootResource: (_call: any, callback: any) => {
            const response = new engproto.GetRootResourceResponse();
            response.setUrn(rootUrn);
            callback(null, response);
        },
        setRootResource: (call: any, callback: any) => {
            rootUrn = call.request.getUrn();
            callback(null, new engproto.SetRootResourceResponse());
        },
    });
    const port: number = await new Promise((resolve, reject) =>
        server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err: Error | null, p: number) =>
            err ? reject(err) : resolve(p),
        ),
    );
    // The monitor deserializes what the program sends with this process's SDK, which reads an
    // unknown (a preview's) as unknown only in a dry run: this process is in one while it serves.
    const wasDryRun = sdkSettings.isDryRun();
    sdkSettings._setIsDryRun(true);
    const sync = fs.mkdtempSync(path.join(os.tmpdir(), "pulumi-sync-"));
    const address = `127.0.0.1:${port}`;
    const command = languageHostCommand({
        projectDir,
        monitor: address,
        engine: address,
        sync,
        project: projectName,
        stack,
        config: engineConfig(config),
        dryRun: true,
    });
    try {
        return await new Promise<HostRun>((resolve, reject) => {
            let stdout = "";
            let stderr = "";
            started = performance.now();
            child = spawn(command.node, command.args, { cwd: command.cwd, env: command.env });
            const poll = setInterval(sample, 20);
            child.stdout!.on("data", (d) => (stdout += d));
            child.stderr!.on("data", (d) => (stderr += d));
            child.on("error", (err) => {
                clearInterval(poll);
                reject(err);
            });
            let exitMs = NaN;
            child.on("exit", () => {
                clearInterval(poll);
                exitMs = at();
            });
            // "close": node has exited and its output is all read.
            child.on("close", (code) => {
                const peakRssMb = fs.existsSync("/proc/self/status") ? peakKb / 1024 : NaN;
                resolve({ ...run, exitCode: code, stdout, stderr, exitMs, peakRssMb, cpuMs });
            });
        });
    } finally {
        server.forceShutdown();
        sdkSettings._setIsDryRun(wasDryRun);
        fs.rmSync(sync, { recursive: true, force: true });
    }
}
