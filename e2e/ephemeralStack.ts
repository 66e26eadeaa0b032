/**
 * An ephemeral stack of this project, driven by Pulumi's Automation API: a uniquely named stack
 * on a local file backend (or the user's backend when PULUMI_BACKEND_URL is set), whose preview
 * steps are recorded, and which is destroyed and removed at the end whatever happened. The program
 * it runs is e2e/stackProgram.ts's, the steps it records e2e/engineSteps.ts's, and its interrupted
 * up e2e/interruptedUp.ts's.
 */
import { execFileSync, spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ConfigMap, EngineEvent, LocalWorkspace, OutputMap, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import { PROJECT } from "../stages/names";
import { EngineStep, engineStep, PlannedStep, plannedStep } from "./engineSteps";
import { InterruptedUp, KillPoint, upInterrupted } from "./interruptedUp";
import { realProgram, ROOT } from "./stackProgram";

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
                const step = plannedStep(event);
                if (step) steps.push(step);
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
     * `pulumi up` in a process of its own, SIGKILLed with what it started at `killAt`
     * (e2e/interruptedUp.ts). Only for stacks of the real program (not `inlineProgram`).
     */
    async upInterrupted(killAt: KillPoint, log?: (line: string) => void): Promise<InterruptedUp> {
        if (!this.program) throw new Error("upInterrupted runs the real program only");
        return upInterrupted({ stack: this.name, program: this.program, env: this.env }, killAt, log);
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
