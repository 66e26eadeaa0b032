/**
 * An ephemeral stack of this project, driven by Pulumi's Automation API: a uniquely named stack
 * on a local file backend (or the user's backend when PULUMI_BACKEND_URL is set), whose preview
 * steps are recorded, and which is destroyed and removed at the end whatever happened.
 */
import { execFileSync, spawn, spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
    ConfigMap,
    EngineEvent,
    LocalWorkspace,
    OpType,
    OutputMap,
    PulumiCommand,
    Stack,
} from "@pulumi/pulumi/automation";
import { objectLabel } from "../mock/changes";
import type { AppliedStep } from "../test/support/carry";
import { PROJECT } from "../stages/names";

export const ROOT = path.resolve(__dirname, "..");

/**
 * The Automation API's inline language server (@pulumi/pulumi 3.276, automation/server.js, `run`)
 * takes a program that rejects with gRPC code 1 or 14 (CANCELLED, UNAVAILABLE: a connection to the
 * engine lost, say while the stack registers) for a program that finished: the engine then sees a
 * program that registered nothing and deletes every unprotected resource of the stack. Seen once in
 * this harness (the walk's promote, an up that deleted 27 resources). Here such a rejection loses
 * its code, so the up fails, with the real gRPC message, and nothing is deleted. A local program
 * (`pulumi up` in the project) is not concerned: the SDK's `cmd/run` fails on any rejection.
 * test/sdkInternals.test.ts holds the SDK to the layout this relies on.
 */
export function failInlineProgramsOnGrpcErrors(): void {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const runtimeStack = require("@pulumi/pulumi/runtime/stack") as {
        runInPulumiStack: (init: () => Promise<unknown>) => Promise<unknown>;
        __failsOnGrpcErrors?: boolean;
    };
    if (runtimeStack.__failsOnGrpcErrors) return;
    const runInPulumiStack = runtimeStack.runInPulumiStack;
    runtimeStack.runInPulumiStack = (init) =>
        runInPulumiStack(init).catch((err: { code?: unknown; message?: string }) => {
            if (err?.code === 1 || err?.code === 14)
                throw new Error(
                    `the inline program's run failed before it completed (gRPC code ${err.code}): ${err.message}`,
                );
            throw err;
        });
    runtimeStack.__failsOnGrpcErrors = true;
}
failInlineProgramsOnGrpcErrors();

/** The real program: index.ts's exported function, as the language host would call it. */
async function realProgram(): Promise<Record<string, unknown>> {
    // Loaded when the engine first runs it (index.ts is `export =`).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const program = require(path.join(ROOT, "index")) as () => Promise<Record<string, unknown>>;
    return program();
}

export interface PlannedStep {
    op: OpType;
    urn: string;
    type: string;
    /**
     * Kind/name for Kubernetes objects ("Deployment/voting-app-1-0"; Gateway API's Gateway with its
     * group, as `plan` labels it: mock/changes.ts objectLabel), else type/name.
     */
    label: string;
    namespace?: string;
    /** Pulumi refuses to delete it. */
    protect: boolean;
    /** A delete only forgets it: the object stays in the cluster (retainOnDelete). */
    retainOnDelete: boolean;
    /** A custom resource (a provider's object), not a component or the stack. */
    custom: boolean;
    /** For Kubernetes objects: what the step would write (apiVersion, kind, name, namespace). */
    object?: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } };
}

export function labelOf(
    type: string,
    urn: string,
    inputs?: Record<string, any>,
): { label: string; namespace?: string } {
    const name = urn.split("::").pop() ?? urn;
    const kubernetes = /^kubernetes:(?!helm)([^:]+):(\w+)$/.exec(type);
    if (kubernetes && inputs?.metadata?.name) {
        // The object's own apiVersion and kind where the inputs carry them, else the type's.
        const apiVersion =
            typeof inputs.apiVersion === "string" ? inputs.apiVersion : kubernetes[1].replace(/^core\//, "");
        const kind = typeof inputs.kind === "string" ? inputs.kind : kubernetes[2];
        return {
            label: objectLabel({ apiVersion, kind, metadata: { name: inputs.metadata.name } }),
            namespace: inputs.metadata.namespace,
        };
    }
    return { label: `${type.split(":").pop()}/${name}` };
}

/** Where an interrupted `up` is killed: decided on each engine event of the run, in order. */
export type KillPoint = (event: EngineStep, events: EngineStep[]) => boolean;

/** One engine event of an `up` run by the driver (its step's start or finish), with its URN. */
export interface EngineStep extends AppliedStep {
    urn: string;
    type: string;
    namespace?: string;
}

/** What an `up` killed at a KillPoint did. */
export interface InterruptedUp {
    /** Whether the kill point was reached (and the CLI killed) before the up ended. */
    killed: boolean;
    /** The engine's events up to the kill, in order. */
    events: EngineStep[];
    /** The processes killed, as "pid name", the CLI first. */
    killedProcesses: string[];
    /** How the driver ended: its exit code, or the signal that killed it. */
    exit: string;
    /** The up's own output (the CLI's lines), for the failure messages. */
    output: string;
}

export interface EphemeralStackOptions {
    /**
     * "local": the engine runs index.ts through the Node.js language host, as `pulumi up` does.
     * "inline": the Automation API serves the same index.ts program from this process (no
     * language host binary needed).
     */
    program: "local" | "inline";
    /** With program "inline": another program than index.ts (a harness check's own resources). */
    inlineProgram?: () => Promise<Record<string, unknown> | void>;
    /** Extra environment for the CLI (backend, passphrase, plugin lookup). */
    env?: Record<string, string>;
    /** Directory holding the `pulumi` to use; the one on PATH otherwise. */
    pulumiRoot?: string;
}

export class EphemeralStack {
    private constructor(
        public readonly stack: Stack,
        public readonly name: string,
        private readonly env: Record<string, string>,
        private readonly backendDir?: string,
        private readonly program: EphemeralStackOptions["program"] = "local",
    ) {}

    static async create(options: EphemeralStackOptions): Promise<EphemeralStack> {
        // E2E_STACK names the stack (a pull request's, on a shared backend); otherwise a unique name.
        const name = process.env.E2E_STACK || `e2e-${Date.now().toString(36)}-${crypto.randomBytes(3).toString("hex")}`;
        let backendDir: string | undefined;
        const env: Record<string, string> = { PULUMI_SKIP_UPDATE_CHECK: "true", ...options.env };
        if (!process.env.PULUMI_BACKEND_URL && !env.PULUMI_BACKEND_URL) {
            backendDir = fs.mkdtempSync(path.join(os.tmpdir(), "aks-istio-e2e-state-"));
            env.PULUMI_BACKEND_URL = `file://${backendDir}`;
        }
        if (!process.env.PULUMI_CONFIG_PASSPHRASE && !env.PULUMI_CONFIG_PASSPHRASE) {
            env.PULUMI_CONFIG_PASSPHRASE = crypto.randomBytes(12).toString("hex");
        }
        const pulumiCommand = options.pulumiRoot
            ? await PulumiCommand.get({ root: options.pulumiRoot, skipVersionCheck: true })
            : undefined;
        const workspaceOptions = { workDir: ROOT, envVars: env, pulumiCommand };
        const stack =
            options.program === "inline"
                ? await LocalWorkspace.createStack(
                      {
                          stackName: name,
                          projectName: PROJECT,
                          program: options.inlineProgram ?? realProgram,
                      },
                      workspaceOptions,
                  )
                : await LocalWorkspace.createStack({ stackName: name, workDir: ROOT }, workspaceOptions);
        return new EphemeralStack(stack, name, env, backendDir, options.inlineProgram ? undefined : options.program);
    }

    /**
     * Sets plain and secret settings (keys without the project prefix; dotted keys are paths
     * into the structured settings, as `pulumi config set --path`).
     */
    async configure(settings: Record<string, string>, secrets: Record<string, string> = {}): Promise<void> {
        const config: ConfigMap = {};
        for (const [k, v] of Object.entries(settings)) config[`${PROJECT}:${k}`] = { value: v };
        for (const [k, v] of Object.entries(secrets)) config[`${PROJECT}:${k}`] = { value: v, secret: true };
        await this.stack.setAllConfig(config, true);
    }

    /** The real engine's preview: every step it plans, with its operation. */
    async preview(): Promise<PlannedStep[]> {
        const steps: PlannedStep[] = [];
        await this.stack.preview({
            onEvent: (event: EngineEvent) => {
                const m = event.resourcePreEvent?.metadata;
                if (!m) return;
                const inputs = (m.new ?? m.old)?.inputs;
                const { label, namespace } = labelOf(m.type, m.urn, inputs);
                const protect = Boolean((m.old ?? m.new)?.protect);
                const retainOnDelete = Boolean((m.old ?? m.new)?.retainOnDelete);
                const custom = Boolean((m.new ?? m.old)?.custom);
                const object =
                    inputs?.apiVersion && inputs?.kind && typeof inputs?.metadata?.name === "string"
                        ? (inputs as PlannedStep["object"])
                        : undefined;
                steps.push({
                    op: m.op,
                    urn: m.urn,
                    type: m.type,
                    label,
                    namespace,
                    protect,
                    retainOnDelete,
                    custom,
                    object,
                });
            },
        });
        return steps;
    }

    /**
     * The engine's events of the last `up`, in order: each step's start and finish (test/support/carry.ts),
     * also when the up failed.
     */
    lastUp: EngineStep[] = [];

    /** `pulumi up`; `onStep` sees each engine event as it comes. */
    async up(log?: (line: string) => void, onStep?: (step: EngineStep) => void): Promise<OutputMap> {
        const events: EngineStep[] = [];
        this.lastUp = events;
        const result = await this.stack.up({
            onOutput: log,
            onEvent: (event: EngineEvent) => {
                const step = engineStep(event);
                if (!step) return;
                events.push(step);
                onStep?.(step);
            },
        });
        return result.outputs;
    }

    /**
     * `pulumi up` in a process of its own (this file run as a driver: the same program, the same
     * Automation API), SIGKILLed at `killAt`: the `pulumi` CLI first, then what the CLI started (the
     * provider plugins, a language host) and the driver, as a CI runner ends a cancelled job's
     * processes. A separate process because an inline program runs in the process that runs the up:
     * nothing of the killed run's program (its pending registrations, its runtime state) can reach
     * the next run of this process. Only for stacks of the real program (not `inlineProgram`).
     */
    async upInterrupted(killAt: KillPoint, log?: (line: string) => void): Promise<InterruptedUp> {
        if (!this.program) throw new Error("upInterrupted runs the real program only");
        const events: EngineStep[] = [];
        const killedProcesses: string[] = [];
        let output = "";
        let killed = false;
        const driver = spawn(
            process.execPath,
            ["-r", "ts-node/register/transpile-only", path.join(__dirname, "ephemeralStack.ts"), "up-driver"],
            {
                cwd: ROOT,
                env: {
                    ...process.env,
                    E2E_DRIVER: JSON.stringify({ stack: this.name, program: this.program, env: this.env }),
                },
                stdio: ["ignore", "pipe", "pipe"],
            },
        );
        const exited = new Promise<string>((resolve) =>
            driver.on("exit", (code, signal) => resolve(signal ? `killed by ${signal}` : `exit code ${code}`)),
        );
        const lines = (stream: NodeJS.ReadableStream, onLine: (line: string) => void) => {
            let rest = "";
            stream.setEncoding("utf8");
            stream.on("data", (chunk: string) => {
                const parts = (rest + chunk).split("\n");
                rest = parts.pop() ?? "";
                parts.forEach(onLine);
            });
        };
        lines(driver.stderr, (line) => (output += `${line}\n`));
        lines(driver.stdout, (line) => {
            if (killed || !line.startsWith("{")) return;
            const message = JSON.parse(line) as { event?: EngineStep; output?: string };
            if (message.output !== undefined) {
                output += message.output;
                log?.(message.output);
                return;
            }
            if (!message.event) return;
            events.push(message.event);
            if (!killAt(message.event, events)) return;
            killed = true;
            killedProcesses.push(...killTree(driver.pid!));
        });
        const exit = await exited;
        return { killed, events, killedProcesses, exit, output };
    }

    /**
     * The `pulumi` CLI on this stack, as a user runs it (`args` without `--stack`): its exit status
     * and output. Never throws for a failed command.
     */
    cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
        const result = spawnSync("pulumi", [...args, "--stack", this.name, "--non-interactive"], {
            cwd: ROOT,
            env: this.commandEnv(),
            encoding: "utf8",
            maxBuffer: 64 * 1024 * 1024,
        });
        return { status: result.status, stdout: result.stdout ?? "", stderr: result.stderr ?? "" };
    }

    /** The environment a command on this stack needs: the backend and the passphrase. */
    commandEnv(): NodeJS.ProcessEnv {
        return { ...process.env, ...this.env };
    }

    /** `pulumi stack export`: the stack's state as the backend holds it. */
    exportState(): { version: number; deployment: any } {
        const result = this.cli(["stack", "export"]);
        if (result.status !== 0) throw new Error(`pulumi stack export failed: ${result.stderr}`);
        return JSON.parse(result.stdout);
    }

    /**
     * The file the local backend keeps this stack's state in (its checkpoint), when the stack has a
     * local backend of its own; undefined on a user's backend.
     */
    checkpointFile(): string | undefined {
        if (!this.backendDir) return undefined;
        const found: string[] = [];
        const walk = (dir: string) => {
            for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
                const file = path.join(dir, entry.name);
                if (entry.isDirectory()) walk(file);
                else if (entry.name === `${this.name}.json`) found.push(file);
            }
        };
        if (fs.existsSync(path.join(this.backendDir, ".pulumi", "stacks")))
            walk(path.join(this.backendDir, ".pulumi", "stacks"));
        if (found.length !== 1) throw new Error(`${found.length} checkpoints of ${this.name}: ${found.join(", ")}`);
        return found[0];
    }

    /**
     * The local backend's repair after a process was killed while it wrote this stack's checkpoint.
     * The backend (gocloud's fileblob) writes the checkpoint to a temporary file and renames it, but
     * first truncates and rewrites in place the attributes file beside it (`<stack>.json.attrs`): a
     * kill in between leaves that file empty or cut, and every command on the stack then fails with
     * "failed to load checkpoint: EOF", while the checkpoint itself is the last one written whole.
     * Removes such an attributes file (the backend reads a checkpoint without one) and returns what
     * it found; undefined when the stack's backend is not its own, or the file is sound.
     */
    repairCheckpointAttributes(): string | undefined {
        const checkpoint = this.checkpointFile();
        if (!checkpoint) return undefined;
        const attributes = `${checkpoint}.attrs`;
        if (!fs.existsSync(attributes)) return undefined;
        const text = fs.readFileSync(attributes, "utf8");
        try {
            JSON.parse(text);
            return undefined;
        } catch {
            fs.rmSync(attributes);
            return `${path.basename(attributes)} (${text.length} bytes: ${JSON.stringify(text.slice(0, 40))}) removed`;
        }
    }

    /** `pulumi destroy`, as a user runs it: throws what the engine reports. */
    async destroy(log?: (line: string) => void): Promise<void> {
        await this.stack.destroy({ onOutput: log });
    }

    /** `pulumi state unprotect --all`: what a user runs to destroy a stack whatever it protects. */
    unprotectAll(): void {
        execFileSync("pulumi", ["state", "unprotect", "--all", "--yes", "--non-interactive", "--stack", this.name], {
            cwd: ROOT,
            env: { ...process.env, ...this.env },
            stdio: ["ignore", "pipe", "pipe"],
        });
    }

    /**
     * Removes everything, protected volumes included, and the stack (and its local backend): what
     * an ephemeral test stack's clean-up does. Never throws.
     */
    async dispose(log: (line: string) => void = () => undefined): Promise<void> {
        if (this.backendDir) {
            // A stack of its own backend whose up was killed: its checkpoint readable, its lock gone.
            try {
                this.repairCheckpointAttributes();
            } catch (err) {
                log(`checkpoint repair failed: ${(err as Error).message}\n`);
            }
            this.cli(["cancel", "--yes"]);
        }
        try {
            this.unprotectAll();
        } catch (err) {
            log(`state unprotect failed: ${(err as Error).message}\n`);
        }
        try {
            await this.destroy(log);
        } catch (err) {
            log(`destroy failed: ${(err as Error).message}\n`);
        }
        try {
            await this.stack.workspace.removeStack(this.name, { force: true });
        } catch (err) {
            log(`stack rm failed: ${(err as Error).message}\n`);
        }
        if (this.backendDir) fs.rmSync(this.backendDir, { recursive: true, force: true });
    }
}

/** A step's start (resourcePreEvent) or finish (resOutputsEvent) as an EngineStep; undefined for other events. */
function engineStep(event: EngineEvent): EngineStep | undefined {
    const start = event.resourcePreEvent?.metadata;
    const m = start ?? event.resOutputsEvent?.metadata;
    if (!m) return undefined;
    const { label, namespace } = labelOf(m.type, m.urn, (m.new ?? m.old)?.inputs);
    return { phase: start ? "start" : "done", op: m.op, label, urn: m.urn, type: m.type, namespace };
}

/** The processes below `root` (its children, theirs, ...), from /proc: pid, parent and command. */
function processTree(root: number): { pid: number; ppid: number; command: string }[] {
    const all: { pid: number; ppid: number; command: string }[] = [];
    for (const entry of fs.readdirSync("/proc")) {
        if (!/^[0-9]+$/.test(entry)) continue;
        try {
            const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
            const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
            const command = fs.readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0").filter(Boolean);
            all.push({ pid: Number(entry), ppid, command: command.map((c) => path.basename(c)).join(" ") });
        } catch {
            // gone meanwhile
        }
    }
    const tree: typeof all = [];
    const parents = new Set([root]);
    for (let grew = true; grew;) {
        grew = false;
        for (const p of all)
            if (parents.has(p.ppid) && !parents.has(p.pid)) {
                parents.add(p.pid);
                tree.push(p);
                grew = true;
            }
    }
    return tree;
}

/**
 * SIGKILLs the `pulumi` CLI below `driver`, then every other process below it, then the driver
 * (all of them started by this harness). Returns what it killed, as "pid command".
 */
function killTree(driver: number): string[] {
    const tree = processTree(driver);
    const cli = tree.filter((p) => p.ppid === driver && /^pulumi( |$)/.test(p.command));
    const rest = tree.filter((p) => !cli.includes(p));
    const killed: string[] = [];
    for (const p of [...cli, ...rest, { pid: driver, ppid: 0, command: "driver" }]) {
        try {
            process.kill(p.pid, "SIGKILL");
            killed.push(`${p.pid} ${p.command.split(" ").slice(0, 2).join(" ")}`);
        } catch {
            // already gone
        }
    }
    return killed;
}

/**
 * The driver of `upInterrupted`: `node -r ts-node/register/transpile-only e2e/ephemeralStack.ts
 * up-driver`, with E2E_DRIVER = {stack, program, env}. Runs `pulumi up` on the stack through the
 * Automation API and writes each engine event, and the CLI's output, as a JSON line on stdout.
 */
if (require.main === module && process.argv[2] === "up-driver") {
    const {
        stack: stackName,
        program,
        env,
    } = JSON.parse(process.env.E2E_DRIVER ?? "{}") as {
        stack: string;
        program: "local" | "inline";
        env: Record<string, string>;
    };
    const say = (message: unknown) => process.stdout.write(`${JSON.stringify(message)}\n`);
    (async () => {
        const workspaceOptions = { workDir: ROOT, envVars: env };
        const stack =
            program === "inline"
                ? await LocalWorkspace.selectStack(
                      { stackName, projectName: PROJECT, program: realProgram },
                      workspaceOptions,
                  )
                : await LocalWorkspace.selectStack({ stackName, workDir: ROOT }, workspaceOptions);
        await stack.up({
            onOutput: (output) => say({ output }),
            onEvent: (event: EngineEvent) => {
                const step = engineStep(event);
                if (step) say({ event: step });
            },
        });
    })().then(
        () => process.exit(0),
        (err: Error) => {
            process.stderr.write(`${err.message}\n`);
            process.exit(1);
        },
    );
}
