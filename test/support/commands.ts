/** The project's TypeScript commands (cmd/plan.ts, cmd/pr.ts, ...) as a user runs them, without npm's start-up. */
import { execFile } from "child_process";
import * as path from "path";

const ROOT = path.resolve(__dirname, "..", "..");

export interface CommandResult {
    status: number;
    stdout: string;
    stderr: string;
}

/** Runs `node -r ts-node/register/transpile-only <script> <args>` in the project; resolves whatever the exit status. */
export function runCommand(script: string, ...args: string[]): Promise<CommandResult> {
    return new Promise((resolve) => {
        execFile(
            process.execPath,
            ["-r", "ts-node/register/transpile-only", script, ...args],
            { cwd: ROOT, encoding: "utf8" },
            (err, stdout, stderr) => {
                const status = err ? (typeof err.code === "number" ? err.code : 1) : 0;
                resolve({ status, stdout, stderr });
            },
        );
    });
}
