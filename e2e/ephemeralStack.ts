/**
 * An ephemeral stack of this project, driven by Pulumi's Automation API: a uniquely named stack
 * on a local file backend (or the user's backend when PULUMI_BACKEND_URL is set), whose preview
 * steps are recorded, and which is destroyed and removed at the end whatever happened.
 */
import { execFileSync } from "child_process";
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
        return new EphemeralStack(stack, name, env, backendDir);
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

    /** The engine's events of the last `up`, in order: each step's start and finish (test/support/carry.ts). */
    lastUp: AppliedStep[] = [];

    async up(log?: (line: string) => void): Promise<OutputMap> {
        const events: AppliedStep[] = [];
        const result = await this.stack.up({
            onOutput: log,
            onEvent: (event: EngineEvent) => {
                const start = event.resourcePreEvent?.metadata;
                const m = start ?? event.resOutputsEvent?.metadata;
                if (!m) return;
                const { label } = labelOf(m.type, m.urn, (m.new ?? m.old)?.inputs);
                events.push({ phase: start ? "start" : "done", op: m.op, label });
            },
        });
        this.lastUp = events;
        return result.outputs;
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
