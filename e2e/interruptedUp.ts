/**
 * An interrupted `pulumi up` (EphemeralStack.upInterrupted): the up runs in a driver process of its
 * own (this file, run with `up-driver`), which writes each engine event and the CLI's output as a
 * JSON line; at the first event where the `KillPoint` says so, the CLI, what it started and the
 * driver are SIGKILLed (`killTree`, over the process tree read from /proc), and the run is reported
 * as an `InterruptedUp`.
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { EngineEvent, LocalWorkspace } from "@pulumi/pulumi/automation";
import { PROJECT } from "../stages/names";
import { EngineStep, engineStep } from "./engineSteps";
import { realProgram, ROOT } from "./stackProgram";

/** Where an interrupted `up` is killed: decided on each engine event of the run, in order. */
export type KillPoint = (event: EngineStep, events: EngineStep[]) => boolean;

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

/** The stack the driver selects: its name, its program (index.ts, local or inline) and the CLI's environment. */
export interface DriverStack {
    stack: string;
    program: "local" | "inline";
    env: Record<string, string>;
}

/**
 * `pulumi up` in a process of its own (this file run as a driver: the same program, the same
 * Automation API), SIGKILLed at `killAt`: the `pulumi` CLI first, then what the CLI started (the
 * provider plugins, a language host) and the driver, as a CI runner ends a cancelled job's
 * processes. A separate process because an inline program runs in the process that runs the up:
 * nothing of the killed run's program (its pending registrations, its runtime state) can reach
 * the next run of this process.
 */
export async function upInterrupted(
    stack: DriverStack,
    killAt: KillPoint,
    log?: (line: string) => void,
): Promise<InterruptedUp> {
    const events: EngineStep[] = [];
    const killedProcesses: string[] = [];
    let output = "";
    let killed = false;
    const driver = spawn(
        process.execPath,
        ["-r", "ts-node/register/transpile-only", path.join(__dirname, "interruptedUp.ts"), "up-driver"],
        {
            cwd: ROOT,
            env: { ...process.env, E2E_DRIVER: JSON.stringify(stack) },
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
 * The driver of `upInterrupted`: `node -r ts-node/register/transpile-only e2e/interruptedUp.ts
 * up-driver`, with E2E_DRIVER = {stack, program, env}. Runs `pulumi up` on the stack through the
 * Automation API and writes each engine event, and the CLI's output, as a JSON line on stdout.
 */
if (require.main === module && process.argv[2] === "up-driver") {
    const { stack: stackName, program, env } = JSON.parse(process.env.E2E_DRIVER ?? "{}") as DriverStack;
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
