/**
 * The program an ephemeral stack (e2e/ephemeralStack.ts) runs: ROOT, the project's directory;
 * `realProgram`, index.ts's exported function as the language host would call it; and the guard,
 * installed on load, that fails an inline program's run rejected with a gRPC code the Automation
 * API's inline server would take for success.
 */
import * as path from "path";

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
export async function realProgram(): Promise<Record<string, unknown>> {
    // Loaded when the engine first runs it (index.ts is `export =`).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const program = require(path.join(ROOT, "index")) as () => Promise<Record<string, unknown>>;
    return program();
}
