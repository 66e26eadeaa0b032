/**
 * Runs the real program (index.ts) under Pulumi's mock runtime and captures every resource it
 * registers, with its inputs, options and dependencies. `render` and the unit tests both use it,
 * so what they show is what `pulumi up` registers: there is no second implementation.
 *
 * Like the engine, it applies the defaults that Pulumi.yaml declares before the program runs.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { specialSecretSig, specialSigKey } from "@pulumi/pulumi/runtime/rpc";
import * as YAML from "yaml";
import { APP_NAMESPACE } from "../stages/names";

/** The SDK's runtime settings module: `waitForRPCs` is not in its typings (see SDK_INTERNALS). */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const sdkRuntimeSettings = require("@pulumi/pulumi/runtime/settings") as { waitForRPCs(): Promise<void> };

export const PROJECT_DIR = path.resolve(__dirname, "..");

export interface RegisteredResource {
    urn: string;
    type: string;
    name: string;
    custom: boolean;
    /** Inputs as the program sent them, secrets unwrapped. */
    inputs: Record<string, any>;
    /** Dotted paths of inputs that were sent as secrets. */
    secretInputs: string[];
    parent: string;
    provider: string;
    /** URNs this resource waits for (dependsOn and the resources behind its input Outputs). */
    dependencies: string[];
    protect: boolean;
    retainOnDelete: boolean;
    /** Pulumi's `deleteBeforeReplace` (false: a replacement is created before the old one is deleted). */
    deleteBeforeReplace: boolean;
    /** Pulumi's `ignoreChanges`: inputs whose later changes the engine does not apply. */
    ignoreChanges: string[];
    /** true for `Resource.get` reads of existing objects. */
    read: boolean;
    /** The ID a read asks for ("" for registrations); UNKNOWN_ID while it is not known yet (preview). */
    id: string;
}

/** How an ID (or any value) that is not known yet travels to the engine during a preview. */
export const UNKNOWN_ID = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

export interface RunOptions {
    /**
     * Run as the first preview of a new stack does: providers report nothing beyond the inputs of
     * what they would create, so every other output (a release's status, a generated password)
     * is unknown to the program.
     */
    preview?: boolean;
}

export interface ProgramRun {
    resources: RegisteredResource[];
    outputs: Record<string, unknown>;
    /** Dotted paths of stack outputs that are secrets. */
    secretOutputs: string[];
    /** What the program said with pulumi.log.warn (what `pulumi preview` shows as warnings). */
    warnings: string[];
    /** The provider functions (invokes) the program called, by token, in order (runProgram sets it). */
    invokes?: string[];
}

export type StackConfig = Record<string, string>;

/** Settings given on a command line as `key=value` (`--config` of render and plan). */
export function configPairs(pairs: string[]): StackConfig {
    const config: StackConfig = {};
    for (const pair of pairs) {
        const at = pair.indexOf("=");
        if (at <= 0) throw new Error(`--config expects key=value, got ${JSON.stringify(pair)}`);
        config[pair.slice(0, at)] = pair.slice(at + 1);
    }
    return config;
}

interface DeclaredSetting {
    type?: string;
    default?: unknown;
    secret?: boolean;
}

/** Project name, and the defaults Pulumi.yaml declares (dotted names as paths, typed as declared). */
let project: { name: string; defaults: Record<string, unknown> } | undefined;

export function projectSettings(): { name: string; defaults: Record<string, unknown> } {
    if (!project) {
        const file = YAML.parse(fs.readFileSync(path.join(PROJECT_DIR, "Pulumi.yaml"), "utf8"));
        const defaults: Record<string, unknown> = {};
        for (const [key, decl] of Object.entries<DeclaredSetting>(file.config ?? {})) {
            if (decl.default !== undefined) setPath(defaults, key, decl.default);
        }
        project = { name: file.name, defaults };
    }
    return project;
}

/** Sets `a.b.c` in an object, creating the objects on the way, as `pulumi config set --path` does. */
function setPath(target: Record<string, unknown>, key: string, value: unknown) {
    const parts = key.split(".");
    let node = target;
    for (const part of parts.slice(0, -1)) {
        if (typeof node[part] !== "object" || node[part] === null) node[part] = {};
        node = node[part] as Record<string, unknown>;
    }
    node[parts[parts.length - 1]] = value;
}

/**
 * The config the engine hands a program: Pulumi.yaml's defaults, overlaid by the stack's
 * settings (dotted keys are paths into the structured settings), objects as JSON.
 */
export function engineConfig(config: StackConfig): Record<string, string> {
    const { name, defaults } = projectSettings();
    const merged: Record<string, unknown> = JSON.parse(JSON.stringify(defaults));
    for (const [key, value] of Object.entries(config)) setPath(merged, key, value);
    return Object.fromEntries(
        Object.entries(merged).map(([k, v]) => [`${name}:${k}`, typeof v === "object" ? JSON.stringify(v) : String(v)]),
    );
}

/** The identity running `pulumi up` as the stand-ins report it (getClientConfig). */
export const MOCK_DEPLOYER = {
    clientId: "00000000-0000-0000-0000-0000000c1e47",
    objectId: "00000000-0000-0000-0000-00000000de91",
    subscriptionId: "00000000-0000-0000-0000-000000000000",
    tenantId: "00000000-0000-0000-0000-00000007e9a7",
} as const;

/** The Entra ID access token getClientToken stands in with, per audience (its `endpoint`). */
export function mockEntraToken(endpoint: string | undefined): string {
    return `mock-entra-token-for-${endpoint ?? "azure-resource-manager"}`;
}

/** The ACR refresh token the registry's stand-in gives for a good exchange. */
export function mockAcrRefreshToken(loginServer: string): string {
    return `mock-acr-refresh-token-for-${loginServer}`;
}

/** What an image's digest depends on: its build inputs, not the credentials it is pushed with. */
function buildInputs(inputs: Record<string, any>): Record<string, any> {
    const addresses = (registries: any[]) => registries.map((r) => ({ address: r.address }));
    const registries = inputs.registries;
    if (Array.isArray(registries)) return { ...inputs, registries: addresses(registries) };
    if (registries?.[specialSigKey] === specialSecretSig && Array.isArray(registries.value))
        return { ...inputs, registries: addresses(registries.value) };
    return inputs;
}

/** Deterministic stand-ins for what providers would return. */
export class StandInMocks implements pulumi.runtime.Mocks {
    /** Tokens of the invokes the program called. */
    readonly invokes: string[] = [];
    /** The Services the gateway chart's releases make (as the chart names them), and their types. */
    private readonly gatewayServices: { id: string; type: string }[] = [];

    constructor(private readonly preview: boolean) {}

    /**
     * `fetch` while the program runs: only ACR's token exchange (stages/acrToken.ts) has a
     * stand-in, which checks the request as ACR documents it (docs/AAD-OAuth.md in Azure/acr) and
     * answers like the registry, a refresh token or an error; anything else is refused.
     */
    readonly fetch = async (input: unknown, init?: { method?: string; headers?: any; body?: any }) => {
        const url = new URL(String(input));
        if (url.protocol !== "https:" || !url.hostname.endsWith(".azurecr.io") || url.pathname !== "/oauth2/exchange")
            throw new Error(`no stand-in for fetch ${url.href} (only https://*.azurecr.io/oauth2/exchange)`);
        const answer = (status: number, body: unknown) => new Response(JSON.stringify(body), { status });
        const contentType = new Headers(init?.headers).get("content-type");
        const form = new URLSearchParams(typeof init?.body === "string" ? init.body : "");
        const wrong =
            init?.method !== "POST"
                ? "not a POST"
                : contentType !== "application/x-www-form-urlencoded"
                  ? `content type ${contentType}`
                  : form.get("grant_type") !== "access_token"
                    ? `grant_type ${form.get("grant_type")}`
                    : form.get("service") !== url.host
                      ? `service ${form.get("service")}`
                      : form.get("tenant") !== MOCK_DEPLOYER.tenantId
                        ? `tenant ${form.get("tenant")}`
                        : form.get("access_token") !== mockEntraToken("https://containerregistry.azure.net")
                          ? "an access token that is not the deployer's for ACR's audience"
                          : undefined;
        if (wrong)
            return answer(wrong.startsWith("an access") ? 401 : 400, { errors: [{ code: "BAD", message: wrong }] });
        return answer(200, { refresh_token: mockAcrRefreshToken(url.host) });
    };

    newResource(args: pulumi.runtime.MockResourceArgs): { id: string; state: Record<string, any> } {
        const state: Record<string, any> = { ...args.inputs };
        if (args.type === "kubernetes:helm.sh/v3:Release" && args.inputs.chart === "gateway") {
            // The chart's naming rule, written here apart from stages/istioCharts.ts on purpose: this
            // is the cluster the program's own rule is checked against (test/gatewayService.test.ts).
            const values = args.inputs.values ?? {};
            this.gatewayServices.push({
                id: `${args.inputs.namespace}/${values.name || args.inputs.name}`,
                type: values.service?.type ?? "LoadBalancer",
            });
        }
        // A create in a preview: only the inputs are known.
        if (this.preview && !args.id) return { id: "", state };
        switch (args.type) {
            case "random:index/randomPassword:RandomPassword":
                state.result = `mock-${args.name}-0123456789`;
                break;
            case "azure-native:resources:ResourceGroup":
                state.name = `${args.name}-1a2b3c`;
                break;
            case "azure-native:containerservice:AgentPool":
                state.name = args.inputs.agentPoolName;
                break;
            case "azure-native:containerservice:ManagedCluster":
                state.name = `${args.name}-1a2b3c`;
                state.identityProfile = { kubeletidentity: { objectId: "00000000-0000-0000-0000-00000000c0de" } };
                break;
            case "azure-native:containerregistry:Registry":
                state.name = `${args.name}1a2b3c`;
                state.loginServer = `${args.name}1a2b3c.azurecr.io`;
                state.id = `/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/${state.name}`;
                break;
            case "docker-build:index:Image": {
                const digest = crypto
                    .createHash("sha256")
                    .update(JSON.stringify(buildInputs(args.inputs)))
                    .digest("hex");
                state.digest = `sha256:${digest}`;
                state.ref = `${args.inputs.tags[0]}@sha256:${digest}`;
                break;
            }
            case "kubernetes:helm.sh/v3:Release":
                // What the provider reports once the release is installed.
                state.status = {
                    name: args.inputs.name,
                    namespace: args.inputs.namespace,
                    chart: args.inputs.chart,
                    version: args.inputs.version,
                    status: "deployed",
                };
                break;
            case "kubernetes:core/v1:Service":
                if (args.id) {
                    // A read of the ingress gateway's Service. With a gateway release, only the
                    // Service the chart made exists (a read of another name fails, as in a
                    // cluster); without one (istio.install=false), the pre-installed gateway's is
                    // a LoadBalancer. Only a LoadBalancer gets an address (TEST-NET-3).
                    const made = this.gatewayServices.find((s) => s.id === args.id);
                    // (A preview's read of an ID not known yet is planned, not made.)
                    if (this.gatewayServices.length && !made && args.id !== UNKNOWN_ID)
                        throw new Error(`services "${args.id.split("/")[1]}" not found (read ${args.id})`);
                    const type = made?.type ?? "LoadBalancer";
                    state.metadata = { name: args.id.split("/")[1], namespace: args.id.split("/")[0] };
                    state.spec = { type };
                    state.status =
                        type === "LoadBalancer"
                            ? { loadBalancer: { ingress: [{ ip: "203.0.113.10" }] } }
                            : { loadBalancer: {} };
                }
                break;
        }
        return { id: args.id || state.id || `${args.name}-id`, state };
    }

    call(args: pulumi.runtime.MockCallArgs): Record<string, any> {
        this.invokes.push(args.token);
        if (args.token === "azure-native:containerservice:listManagedClusterUserCredentials") {
            const kubeconfig = "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n";
            return { kubeconfigs: [{ name: "clusterUser", value: Buffer.from(kubeconfig).toString("base64") }] };
        }
        if (args.token === "azure-native:authorization:getClientConfig") return { ...MOCK_DEPLOYER };
        if (args.token === "azure-native:authorization:getClientToken")
            return { token: mockEntraToken(args.inputs.endpoint) };
        throw new Error(`no stand-in for the call ${args.token}`);
    }
}

function secretPaths(value: unknown, prefix = ""): string[] {
    if (value === null || typeof value !== "object") return [];
    const obj = value as Record<string, unknown>;
    if (obj[specialSigKey] === specialSecretSig) return [prefix || "."];
    return Object.entries(obj).flatMap(([k, v]) => secretPaths(v, prefix ? `${prefix}.${k}` : k));
}

function unwrapSecrets(value: unknown): any {
    if (Array.isArray(value)) return value.map(unwrapSecrets);
    if (value === null || typeof value !== "object") return value;
    const obj = value as Record<string, unknown>;
    if (obj[specialSigKey] === specialSecretSig) return unwrapSecrets(obj.value);
    return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, unwrapSecrets(v)]));
}

/** Stands for a stack output that is not known yet (a preview). */
const UNKNOWN_OUTPUT = "<unknown until applied>";

async function settle(value: unknown): Promise<{ value: unknown; secret: boolean }> {
    if (pulumi.Output.isInstance(value)) {
        const output = value as pulumi.Output<unknown>;
        // The SDK's Output internals: isKnown, isSecret and promise() (an unknown never applies).
        const internals = output as unknown as {
            isKnown: Promise<boolean>;
            isSecret: Promise<boolean>;
            promise(withUnknowns?: boolean): Promise<unknown>;
        };
        const [known, secret] = await Promise.all([internals.isKnown, internals.isSecret]);
        if (!known) return { value: UNKNOWN_OUTPUT, secret };
        const resolved = await internals.promise();
        const inner = await settle(resolved);
        return { value: inner.value, secret: secret || inner.secret };
    }
    return { value, secret: false };
}

/** The program threw: `registered` is what it had registered before (the tests want nothing). */
export class ProgramError extends Error {
    constructor(
        public readonly cause: Error,
        public readonly registered: RegisteredResource[],
    ) {
        super(cause.message);
        this.name = "ProgramError";
    }
}

let running = false;

/**
 * What this runner takes from @pulumi/pulumi beyond its public API (test/sdkInternals.test.ts
 * pins each one, so an SDK upgrade that changes them fails there with this list):
 *  - runtime/settings `getMonitor()`: under mocks, the MockMonitor, whose `registerResource`,
 *    `readResource` and `newUrn` are wrapped here to capture every registration;
 *  - the requests it receives: RegisterResourceRequest getObject/getType/getName/getParent/
 *    getCustom/getProvider/getDependenciesList/getProtect/getRetainondelete/getDeletebeforereplace/
 *    getIgnorechangesList, ReadResourceRequest
 *    getProperties/getId (protobuf getters; `toJavaScript()` on the property structs);
 *  - runtime/settings `waitForRPCs()`: waits until every registration has reached the monitor;
 *  - an Output's `isKnown`, `isSecret` and `promise()`.
 */
export const SDK_INTERNALS = [
    "runtime/settings getMonitor()",
    "MockMonitor registerResource / readResource / newUrn",
    "RegisterResourceRequest and ReadResourceRequest getters",
    "runtime/settings waitForRPCs()",
    "Output isKnown / isSecret / promise()",
] as const;

/**
 * Runs index.ts once with `config` (keys without the project prefix, e.g. { stage: "canary" })
 * on top of Pulumi.yaml's defaults. Throws what the program throws.
 */
export async function runProgram(
    config: StackConfig = {},
    secretConfig: StackConfig = {},
    options: RunOptions = {},
): Promise<ProgramRun> {
    if (running) throw new Error("runProgram is not re-entrant");
    running = true;
    // The SDK records a stack trace on every promise it makes (debuggablePromise, for its leak
    // report); under ts-node's source-map support on Node 24 that was two thirds of an
    // evaluation. Resources' source positions are unaffected: the SDK lifts the limit for those.
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    const warn = pulumi.log.warn;
    const warnings: string[] = [];
    pulumi.log.warn = async (message: string) => {
        warnings.push(message);
    };
    const mocks = new StandInMocks(Boolean(options.preview));
    // The program's only HTTP request (ACR's token exchange) goes to the stand-in, nowhere else.
    const fetch = globalThis.fetch;
    globalThis.fetch = mocks.fetch as typeof globalThis.fetch;
    try {
        const { name } = projectSettings();
        const all = engineConfig({ ...config, ...secretConfig });
        pulumi.runtime.setAllConfig(
            all,
            Object.keys(secretConfig).map((k) => `${name}:${k}`),
        );
        await pulumi.runtime.setMocks(mocks, name, "mock", Boolean(options.preview));

        const resources: RegisteredResource[] = [];
        const monitor = (pulumi.runtime as any).getMonitor();
        const capture = (req: any, read: boolean) => {
            const raw = (read ? req.getProperties() : req.getObject())?.toJavaScript() ?? {};
            const type: string = req.getType();
            const name: string = req.getName();
            const parent: string = req.getParent();
            resources.push({
                urn: monitor.newUrn(parent, type, name),
                type,
                name,
                custom: read ? true : req.getCustom(),
                inputs: unwrapSecrets(raw),
                secretInputs: secretPaths(raw),
                parent,
                provider: req.getProvider(),
                dependencies: req.getDependenciesList(),
                protect: read ? false : Boolean(req.getProtect()),
                retainOnDelete: read ? false : Boolean(req.getRetainondelete()),
                deleteBeforeReplace: read ? false : Boolean(req.getDeletebeforereplace()),
                ignoreChanges: read ? [] : req.getIgnorechangesList(),
                read,
                id: read ? req.getId() : "",
            });
        };
        const register = monitor.registerResource.bind(monitor);
        const readResource = monitor.readResource.bind(monitor);
        monitor.registerResource = (req: any, callback: any) => {
            capture(req, false);
            return register(req, callback);
        };
        monitor.readResource = (req: any, callback: any) => {
            capture(req, true);
            return readResource(req, callback);
        };

        // The program is loaded only now, under the mocks set above (index.ts is `export =`).
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const program: () => Promise<Record<string, unknown>> = require(path.join(PROJECT_DIR, "index"));
        let returned: Record<string, unknown>;
        try {
            returned = await program();
        } catch (err) {
            await sdkRuntimeSettings.waitForRPCs();
            throw new ProgramError(err as Error, resources);
        }
        const outputs: Record<string, unknown> = {};
        const secretOutputs: string[] = [];
        for (const [key, value] of Object.entries(returned)) {
            const settled = await settle(value);
            outputs[key] = settled.value;
            if (settled.secret) secretOutputs.push(key);
        }
        await sdkRuntimeSettings.waitForRPCs();
        return { resources, outputs, secretOutputs, warnings, invokes: [...mocks.invokes] };
    } finally {
        globalThis.fetch = fetch;
        pulumi.log.warn = warn;
        Error.stackTraceLimit = stackTraceLimit;
        running = false;
    }
}

/** Kubernetes kinds in the order `render` prints them (then by name). */
/** The component type VotingApp registers (components/votingApp.ts). */
const VOTING_APP_TYPE = "voting:app:VotingApp";

export const KIND_ORDER = [
    "Namespace",
    "Secret",
    "ConfigMap",
    "PersistentVolumeClaim",
    "Service",
    "Deployment",
    "PodDisruptionBudget",
    "Gateway",
    "DestinationRule",
    "VirtualService",
    "PeerAuthentication",
];

export interface KubernetesObject {
    apiVersion: string;
    kind: string;
    metadata: { name: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown };
    [k: string]: any;
}

/** A registered Kubernetes resource as the object sent to the API server. */
export function asKubernetesObject(resource: RegisteredResource): KubernetesObject | undefined {
    if (!resource.type.startsWith("kubernetes:") || resource.read || !resource.custom) return undefined;
    if (resource.type.startsWith("kubernetes:helm.sh/") || resource.type === "pulumi:providers:kubernetes")
        return undefined;
    const { apiVersion, kind } = resource.inputs;
    if (!apiVersion || !kind) return undefined;
    return resource.inputs as KubernetesObject;
}

/** The objects of a namespace, and the namespace itself. */
export function inNamespace(objects: KubernetesObject[], namespace: string = APP_NAMESPACE): KubernetesObject[] {
    return objects.filter(
        (o) => o.metadata.namespace === namespace || (o.kind === "Namespace" && o.metadata.name === namespace),
    );
}

/**
 * The app stack of a run: every Kubernetes object in the app namespace and the namespace itself,
 * and what VotingApp registers elsewhere (Gateway API's Gateway, which lives beside the ingress
 * gateway's Service), sorted deterministically.
 */
export function appObjects(run: ProgramRun, namespace: string = APP_NAMESPACE): KubernetesObject[] {
    const votingApps = new Set(run.resources.filter((r) => r.type === VOTING_APP_TYPE).map((r) => r.urn));
    const registered = run.resources.flatMap((r) => {
        const object = asKubernetesObject(r);
        return object ? [{ object, ofTheApp: r.parent !== undefined && votingApps.has(r.parent) }] : [];
    });
    const inTheNamespace = new Set(
        inNamespace(
            registered.map((r) => r.object),
            namespace,
        ),
    );
    const objects = registered.filter((r) => inTheNamespace.has(r.object) || r.ofTheApp).map((r) => r.object);
    const rank = (kind: string) => (KIND_ORDER.includes(kind) ? KIND_ORDER.indexOf(kind) : KIND_ORDER.length);
    return objects.sort(
        (a, b) =>
            rank(a.kind) - rank(b.kind) ||
            a.kind.localeCompare(b.kind) ||
            a.metadata.name.localeCompare(b.metadata.name) ||
            (a.metadata.namespace ?? "").localeCompare(b.metadata.namespace ?? ""),
    );
}
