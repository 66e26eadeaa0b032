/**
 * The program an ephemeral stack (e2e/ephemeralStack.ts) runs: ROOT, the project's directory;
 * `realProgram`, index.ts's exported function as the language host would call it; and, installed
 * on load, each inline run's own gRPC connections to the engine (no failed connection of an earlier
 * run inherited) and the guard that fails an inline program's run rejected with a gRPC code the
 * Automation API's inline server would take for success.
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

/**
 * The SDK's clients to the engine (runtime/settings.js: the resource monitor's and the engine's,
 * created with its `grpcClientOptions`) share @grpc/grpc-js's global subchannel pool, keyed by
 * address. This harness runs hundreds of inline programs in one process, each against an engine
 * listening on a port the kernel picks, and the SDK never closes a run's clients; when a later
 * engine gets a port an earlier one had, its run is given the earlier run's subchannel, failed and
 * in backoff, and its first call fails at once with "14 UNAVAILABLE: No connection established.
 * Last error: null" (seen in the interrupted ups, 2026-12-01; the guard above turned it into a
 * failure). A local program (one process per update) cannot meet it; an Automation API user who
 * runs many inline updates in one process can. Each client gets its own pool here.
 * test/sdkInternals.test.ts reproduces the failure with the SDK's own options and holds this to it.
 */
export function giveInlineRunsTheirOwnGrpcConnections(): void {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const settings = require("@pulumi/pulumi/runtime/settings") as { grpcClientOptions: Record<string, unknown> };
    settings.grpcClientOptions["grpc.use_local_subchannel_pool"] = 1;
}
giveInlineRunsTheirOwnGrpcConnections();

/** The real program: index.ts's exported function, as the language host would call it. */
export async function realProgram(): Promise<Record<string, unknown>> {
    // Loaded when the engine first runs it (index.ts is `export =`).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const program = require(path.join(ROOT, "index")) as () => Promise<Record<string, unknown>>;
    return program();
}
