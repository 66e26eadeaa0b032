/**
 * The mock runner (mock/runProgram.ts) captures registrations through parts of @pulumi/pulumi that
 * are not its public API (listed in SDK_INTERNALS there). This pins each of them, so that an SDK
 * upgrade which changes one fails here, naming it, rather than as a puzzling failure elsewhere.
 */
import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { RegisteredResource, runProgram, SDK_INTERNALS } from "../mock/runProgram";
import { runStage } from "./support/runs";

const sdkPackage = path.join(path.dirname(require.resolve("@pulumi/pulumi/package.json")), "package.json");
const SDK_VERSION: string = JSON.parse(fs.readFileSync(sdkPackage, "utf8")).version;

/** Runs `check`; on failure, says which internal the runner relies on and what to do. */
async function relies(
    internal: (typeof SDK_INTERNALS)[number],
    check: () => unknown | Promise<unknown>,
): Promise<void> {
    try {
        await check();
    } catch (err) {
        throw new Error(
            `mock/runProgram.ts relies on ${internal} of @pulumi/pulumi, and @pulumi/pulumi ${SDK_VERSION} no longer provides it as it did: ${(err as Error).message}\n` +
                "Update the runner (see SDK_INTERNALS in mock/runProgram.ts) for this SDK, or keep the SDK where it was.",
            { cause: err },
        );
    }
}

describe(`the SDK internals the mock runner relies on (@pulumi/pulumi ${SDK_VERSION})`, () => {
    it("runtime/settings getMonitor() and waitForRPCs() exist", async () => {
        // Untyped internals: read as the runner reads them.
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const settings = require("@pulumi/pulumi/runtime/settings");
        await relies("runtime/settings getMonitor()", () => assert.equal(typeof settings.getMonitor, "function"));
        await relies("runtime/settings waitForRPCs()", () => assert.equal(typeof settings.waitForRPCs, "function"));
    });

    it("the MockMonitor has registerResource, readResource and newUrn, and newUrn builds URNs as the engine does", async () => {
        await runStage("deploy"); // leaves the mock monitor of that run installed
        const monitor = (pulumi.runtime as any).getMonitor();
        await relies("MockMonitor registerResource / readResource / newUrn", () => {
            for (const method of ["registerResource", "readResource", "newUrn"])
                assert.equal(typeof monitor?.[method], "function", `MockMonitor.${method}`);
            assert.match(
                monitor.newUrn("", "pulumi:pulumi:Stack", "x"),
                /^urn:pulumi:mock::[^:]+::pulumi:pulumi:Stack::x$/,
            );
        });
    });

    it("every field the runner captures comes through: type, name, parent, provider, inputs, secrets, dependencies, protect, reads and their IDs", async () => {
        let canary: RegisteredResource[] = [];
        await relies("RegisterResourceRequest and ReadResourceRequest getters", async () => {
            canary = (await runStage("canary", { "cluster.mode": "kubeconfig" })).resources;
        });
        const find = (type: string, name?: string) =>
            canary.find((r) => r.type === type && (!name || r.inputs?.metadata?.name === name));
        await relies("RegisterResourceRequest and ReadResourceRequest getters", () => {
            const provider = find("pulumi:providers:kubernetes")!;
            assert.ok(provider?.custom, "a provider is registered as a custom resource");
            const claim = find("kubernetes:core/v1:PersistentVolumeClaim", "voting-storage-redis-data")!;
            assert.ok(claim, "the Redis claim is captured");
            assert.equal(claim.protect, true, "getProtect");
            assert.equal(claim.retainOnDelete, false, "getRetainondelete");
            assert.match(claim.provider, /::pulumi:providers:kubernetes::k8s::/, "getProvider");
            assert.match(claim.parent, /^urn:pulumi:/, "getParent");
            const app = find("kubernetes:apps/v1:Deployment", "voting-app-2-0")!;
            assert.ok(
                app.dependencies.length > 0 && app.dependencies.every((d) => d.startsWith("urn:pulumi:")),
                "getDependenciesList",
            );
            assert.equal(app.inputs.spec.template.metadata.labels.version, "2.0", "getObject().toJavaScript()");
            const secret = find("kubernetes:core/v1:Secret", "voting-storage-secret")!;
            assert.ok(secret.secretInputs.length > 0, "secret inputs keep the SDK's secret signature");
            const read = canary.find((r) => r.read && r.type === "kubernetes:core/v1:Service")!;
            assert.equal(read?.id, "istio-ingress/istio-ingressgateway", "ReadResourceRequest getId");
            assert.ok(read.inputs !== undefined, "ReadResourceRequest getProperties");
        });
    });

    it("deleteBeforeReplace and ignoreChanges come through (the node pools' options)", async () => {
        await relies("RegisterResourceRequest and ReadResourceRequest getters", async () => {
            const { resources } = await runStage("deploy");
            const pool = resources.find((r) => r.type === "azure-native:containerservice:AgentPool")!;
            assert.deepEqual(pool.ignoreChanges, ["count"], "getIgnorechangesList");
            assert.equal(pool.deleteBeforeReplace, false, "getDeletebeforereplace");
            const cluster = resources.find((r) => r.type === "azure-native:containerservice:ManagedCluster")!;
            assert.deepEqual(cluster.ignoreChanges, ["agentPoolProfiles"], "getIgnorechangesList");
        });
    });

    it("control: with a getter gone (as an SDK upgrade could do), the runner fails and this test names the internal", async () => {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const { RegisterResourceRequest } = require("@pulumi/pulumi/proto/resource_pb");
        const getter = RegisterResourceRequest.prototype.getRetainondelete;
        delete RegisterResourceRequest.prototype.getRetainondelete;
        try {
            await assert.rejects(
                relies("RegisterResourceRequest and ReadResourceRequest getters", () =>
                    runProgram({ stage: "deploy", "cluster.mode": "kubeconfig" }),
                ),
                /relies on RegisterResourceRequest and ReadResourceRequest getters of @pulumi\/pulumi, and @pulumi\/pulumi 3\.\d+\.\d+ no longer provides it as it did: .*getRetainondelete/,
            );
        } finally {
            RegisterResourceRequest.prototype.getRetainondelete = getter;
        }
    });

    it("an Output still carries isKnown, isSecret and promise()", async () => {
        await relies("Output isKnown / isSecret / promise()", async () => {
            const output = pulumi.secret("x") as unknown as {
                isKnown: Promise<boolean>;
                isSecret: Promise<boolean>;
                promise(): Promise<unknown>;
            };
            assert.equal(await output.isKnown, true);
            assert.equal(await output.isSecret, true);
            assert.equal(await output.promise(), "x");
        });
    });
});

describe("the SDK internals the e2e harness's inline-program guard relies on (e2e/stackProgram.ts)", () => {
    const serverJs = require.resolve("@pulumi/pulumi/automation/server.js");

    it("the inline language server calls runInPulumiStack through the runtime/stack module and takes gRPC codes 1 and 14 for success", () => {
        const server = fs.readFileSync(serverJs, "utf8");
        assert.match(server, /const stack = __importStar\(require\("\.\.\/runtime\/stack"\)\);/);
        assert.match(server, /await stack\.runInPulumiStack\(this\.program\);/);
        assert.match(server, /if \(!errors_1\.isGrpcError\(e\)\) \{\s*throw e;/);
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const { isGrpcError } = require("@pulumi/pulumi/errors") as { isGrpcError: (e: unknown) => boolean };
        assert.equal(isGrpcError({ code: 14 }), true);
        assert.equal(isGrpcError({ code: 1 }), true);
    });

    it("with the guard, a run rejected with gRPC code 14 fails with its message, without the code", async () => {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const { failInlineProgramsOnGrpcErrors } = require("../e2e/stackProgram") as {
            failInlineProgramsOnGrpcErrors: () => void;
        };
        failInlineProgramsOnGrpcErrors();
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const runtimeStack = require("@pulumi/pulumi/runtime/stack") as {
            runInPulumiStack: (init: () => Promise<unknown>) => Promise<unknown>;
        };
        const unavailable = Object.assign(new Error("14 UNAVAILABLE: No connection established"), { code: 14 });
        // The original rejects before running the program when the engine cannot be reached; stand in for it.
        const error = await runtimeStack
            .runInPulumiStack(async () => {
                throw unavailable;
            })
            .then(
                () => undefined,
                (e: { code?: number; message: string }) => e,
            );
        assert.ok(error, "the run must fail");
        assert.equal(error.code, undefined);
        assert.match(error.message, /gRPC code 14\): .*UNAVAILABLE/);
    });
});

describe("the SDK's gRPC clients to the engine, when one process runs many inline programs (e2e/stackProgram.ts)", () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const grpc = require(
        require.resolve("@grpc/grpc-js", { paths: [path.dirname(sdkPackage)] }),
    ) as typeof import("@grpc/grpc-js"); // the SDK's own
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const resrpc = require("@pulumi/pulumi/proto/resource_grpc_pb.js");
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const resource = require("@pulumi/pulumi/proto/resource_pb.js");
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const settings = require("@pulumi/pulumi/runtime/settings") as { grpcClientOptions: Record<string, unknown> };
    const LOCAL_POOL = "grpc.use_local_subchannel_pool";

    /** A stand-in engine: a resource monitor answering SupportsFeature, on `port` (0: any). */
    const engine = (port: number) =>
        new Promise<{ server: import("@grpc/grpc-js").Server; port: number }>((resolve, reject) => {
            const server = new grpc.Server();
            server.addService(resrpc.ResourceMonitorService, {
                supportsFeature: (_call: unknown, reply: (e: null, r: unknown) => void) =>
                    reply(null, new resource.SupportsFeatureResponse()),
            });
            server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) =>
                err ? reject(err) : resolve({ server, port: bound }),
            );
        });
    const supportsFeature = (client: any) =>
        new Promise<string>((resolve) =>
            client.supportsFeature(new resource.SupportsFeatureRequest(), (err: any) =>
                resolve(err ? `${err.code} ${err.details}` : "ok"),
            ),
        );
    /**
     * Run 1's client reaches its engine, which then goes away (the SDK keeps the client), and run 1's
     * client tries it once more; run 2's engine gets the same port, and run 2's new client calls it.
     */
    async function secondRunOnAReusedPort(options: Record<string, unknown>): Promise<string> {
        const first = await engine(0);
        const target = `127.0.0.1:${first.port}`;
        const firstClient = new resrpc.ResourceMonitorClient(target, grpc.credentials.createInsecure(), options);
        assert.equal(await supportsFeature(firstClient), "ok");
        first.server.forceShutdown();
        assert.match(await supportsFeature(firstClient), /^14 /);
        const second = await engine(first.port);
        const client = new resrpc.ResourceMonitorClient(target, grpc.credentials.createInsecure(), options);
        try {
            return await supportsFeature(client);
        } finally {
            // Run 1's client is closed only now: the SDK never closes it, which is what keeps its connection pooled.
            client.close();
            firstClient.close();
            second.server.forceShutdown();
        }
    }

    it("runtime/settings.js creates the resource monitor's and the engine's clients with its exported grpcClientOptions", () => {
        const text = fs.readFileSync(require.resolve("@pulumi/pulumi/runtime/settings.js"), "utf8");
        const created = text.match(/new (resrpc\.ResourceMonitorClient|engrpc\.EngineClient)\(.*\);$/gm) ?? [];
        assert.equal(created.length, 4, created.join("\n"));
        for (const call of created) assert.match(call, /, exports\.grpcClientOptions\);$/);
    });

    it("control: with the SDK's own options, a new client on the port of an engine that went away fails at once (14 No connection established. Last error: null)", async () => {
        const options = { ...settings.grpcClientOptions };
        delete options[LOCAL_POOL];
        assert.match(await secondRunOnAReusedPort(options), /^14 No connection established\. Last error: null/);
    });

    it("with the harness's setting (e2e/stackProgram.ts, on the SDK's own options object), the new client reaches the new engine", async () => {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const { giveInlineRunsTheirOwnGrpcConnections } = require("../e2e/stackProgram") as {
            giveInlineRunsTheirOwnGrpcConnections: () => void;
        };
        giveInlineRunsTheirOwnGrpcConnections();
        assert.equal(settings.grpcClientOptions[LOCAL_POOL], 1);
        assert.equal(await secondRunOnAReusedPort(settings.grpcClientOptions), "ok");
    });
});
