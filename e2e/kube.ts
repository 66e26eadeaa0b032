/**
 * A small Kubernetes API client for the end-to-end checks: reads a kubeconfig (client
 * certificates or a bearer token) and speaks plain HTTPS/JSON. Enough to list, get, create and
 * delete objects; the program itself talks to the cluster through Pulumi's provider only.
 */
import * as fs from "fs";
import * as https from "https";
import * as YAML from "yaml";

export interface KubeObject {
    apiVersion: string;
    kind: string;
    metadata: { name: string; namespace?: string; uid?: string; labels?: Record<string, string>; [k: string]: unknown };
    [k: string]: any;
}

export class KubeError extends Error {
    constructor(
        public readonly status: number,
        message: string,
    ) {
        super(message);
    }
}

/**
 * Where each kind lives in the API (plural resource names). Keyed by kind; a kind two APIs share is
 * keyed by `Kind.group` for the one that is not Istio's (Gateway API's `Gateway`), with its kind.
 */
export const RESOURCES: Record<string, { group: string; version: string; plural: string; kind?: string }> = {
    Namespace: { group: "", version: "v1", plural: "namespaces" },
    Service: { group: "", version: "v1", plural: "services" },
    Secret: { group: "", version: "v1", plural: "secrets" },
    ConfigMap: { group: "", version: "v1", plural: "configmaps" },
    PersistentVolumeClaim: { group: "", version: "v1", plural: "persistentvolumeclaims" },
    PersistentVolume: { group: "", version: "v1", plural: "persistentvolumes" },
    StorageClass: { group: "storage.k8s.io", version: "v1", plural: "storageclasses" },
    EndpointSlice: { group: "discovery.k8s.io", version: "v1", plural: "endpointslices" },
    Pod: { group: "", version: "v1", plural: "pods" },
    Node: { group: "", version: "v1", plural: "nodes" },
    Deployment: { group: "apps", version: "v1", plural: "deployments" },
    Job: { group: "batch", version: "v1", plural: "jobs" },
    PodDisruptionBudget: { group: "policy", version: "v1", plural: "poddisruptionbudgets" },
    Gateway: { group: "networking.istio.io", version: "v1", plural: "gateways" },
    VirtualService: { group: "networking.istio.io", version: "v1", plural: "virtualservices" },
    DestinationRule: { group: "networking.istio.io", version: "v1", plural: "destinationrules" },
    PeerAuthentication: { group: "security.istio.io", version: "v1", plural: "peerauthentications" },
    AuthorizationPolicy: { group: "security.istio.io", version: "v1", plural: "authorizationpolicies" },
    ServiceAccount: { group: "", version: "v1", plural: "serviceaccounts" },
    "Gateway.gateway.networking.k8s.io": {
        group: "gateway.networking.k8s.io",
        version: "v1",
        plural: "gateways",
        kind: "Gateway",
    },
    HTTPRoute: { group: "gateway.networking.k8s.io", version: "v1", plural: "httproutes" },
    GatewayClass: { group: "gateway.networking.k8s.io", version: "v1", plural: "gatewayclasses" },
    ValidatingWebhookConfiguration: {
        group: "admissionregistration.k8s.io",
        version: "v1",
        plural: "validatingwebhookconfigurations",
    },
    ValidatingAdmissionPolicy: {
        group: "admissionregistration.k8s.io",
        version: "v1",
        plural: "validatingadmissionpolicies",
    },
    ValidatingAdmissionPolicyBinding: {
        group: "admissionregistration.k8s.io",
        version: "v1",
        plural: "validatingadmissionpolicybindings",
    },
    CustomResourceDefinition: { group: "apiextensions.k8s.io", version: "v1", plural: "customresourcedefinitions" },
};

export function resourcePath(kind: string, namespace?: string, name?: string): string {
    const r = RESOURCES[kind];
    if (!r) throw new Error(`unknown kind ${kind}`);
    const base = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
    return `${base}${namespace ? `/namespaces/${namespace}` : ""}/${r.plural}${name ? `/${name}` : ""}`;
}

export class KubeClient {
    /** "apiVersion/Kind" -> where it lives, from the API server's discovery (every kind it serves). */
    private discovered?: Map<string, { base: string; plural: string; namespaced: boolean }>;

    private constructor(
        private readonly server: URL,
        private readonly agent: https.Agent,
        private readonly token?: string,
    ) {}

    static fromKubeconfig(file: string, contextName?: string): KubeClient {
        const config = YAML.parse(fs.readFileSync(file, "utf8"));
        const ctxName = contextName || config["current-context"];
        const context = config.contexts.find((c: any) => c.name === ctxName)?.context;
        if (!context) throw new Error(`${file}: no context ${ctxName}`);
        const cluster = config.clusters.find((c: any) => c.name === context.cluster)?.cluster;
        const user = config.users.find((u: any) => u.name === context.user)?.user ?? {};
        const data = (inline?: string, path?: string) =>
            inline ? Buffer.from(inline, "base64") : path ? fs.readFileSync(path) : undefined;
        const agent = new https.Agent({
            ca: data(cluster["certificate-authority-data"], cluster["certificate-authority"]),
            cert: data(user["client-certificate-data"], user["client-certificate"]),
            key: data(user["client-key-data"], user["client-key"]),
            rejectUnauthorized: !cluster["insecure-skip-tls-verify"],
            keepAlive: true,
        });
        return new KubeClient(new URL(cluster.server), agent, user.token);
    }

    request<T = any>(method: string, path: string, body?: unknown, contentType = "application/json"): Promise<T> {
        const payload =
            body === undefined ? undefined : Buffer.from(typeof body === "string" ? body : JSON.stringify(body));
        return new Promise((resolve, reject) => {
            const req = https.request(
                {
                    host: this.server.hostname,
                    port: this.server.port || 443,
                    path,
                    method,
                    agent: this.agent,
                    headers: {
                        accept: "application/json",
                        ...(payload ? { "content-type": contentType, "content-length": payload.length } : {}),
                        ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
                    },
                    timeout: 30000,
                },
                (res) => {
                    const chunks: Buffer[] = [];
                    res.on("data", (c) => chunks.push(c));
                    res.on("end", () => {
                        const text = Buffer.concat(chunks).toString("utf8");
                        if ((res.statusCode ?? 500) >= 300)
                            return reject(
                                new KubeError(
                                    res.statusCode ?? 500,
                                    `${method} ${path}: ${res.statusCode} ${text.slice(0, 500)}`,
                                ),
                            );
                        resolve(
                            text && res.headers["content-type"]?.includes("json")
                                ? JSON.parse(text)
                                : (text as unknown as T),
                        );
                    });
                },
            );
            req.on("timeout", () => req.destroy(new Error(`${method} ${path}: timed out`)));
            req.on("error", reject);
            req.end(payload);
        });
    }

    async list(kind: string, namespace?: string): Promise<KubeObject[]> {
        const list = await this.request("GET", resourcePath(kind, namespace));
        const { group, version, kind: servedKind } = RESOURCES[kind];
        return list.items.map((item: KubeObject) => ({
            ...item,
            apiVersion: group ? `${group}/${version}` : version,
            kind: servedKind ?? kind,
        }));
    }

    /** As `list`, and none where the API server does not serve the kind (its CRD is not installed). */
    async listIfServed(kind: string, namespace?: string): Promise<KubeObject[]> {
        try {
            return await this.list(kind, namespace);
        } catch (err) {
            if (err instanceof KubeError && err.status === 404) return [];
            throw err;
        }
    }

    async get(kind: string, namespace: string | undefined, name: string): Promise<KubeObject | undefined> {
        try {
            return await this.request("GET", resourcePath(kind, namespace, name));
        } catch (err) {
            if (err instanceof KubeError && err.status === 404) return undefined;
            throw err;
        }
    }

    /** Creates the object; an existing one is left as it is. */
    async ensure(object: KubeObject): Promise<void> {
        try {
            await this.request("POST", resourcePath(object.kind, object.metadata.namespace), object);
        } catch (err) {
            if (!(err instanceof KubeError && err.status === 409)) throw err;
        }
    }

    /** The API path of an object of any kind the server serves (discovery, refreshed once on a miss). */
    async pathOf(object: {
        apiVersion: string;
        kind: string;
        metadata: { name: string; namespace?: string };
    }): Promise<string | undefined> {
        const key = `${object.apiVersion}/${object.kind}`;
        if (!this.discovered?.has(key)) await this.discover();
        const where = this.discovered!.get(key);
        if (!where) return undefined;
        const ns = where.namespaced ? `/namespaces/${object.metadata.namespace ?? "default"}` : "";
        return `${where.base}${ns}/${where.plural}/${object.metadata.name}`;
    }

    private async discover(): Promise<void> {
        const found = new Map<string, { base: string; plural: string; namespaced: boolean }>();
        const groupVersions: { base: string; apiVersion: string }[] = [{ base: "/api/v1", apiVersion: "v1" }];
        const groups = await this.request("GET", "/apis");
        for (const g of groups.groups ?? [])
            for (const v of g.versions ?? [])
                groupVersions.push({ base: `/apis/${v.groupVersion}`, apiVersion: v.groupVersion });
        await Promise.all(
            groupVersions.map(async ({ base, apiVersion }) => {
                const list = await this.request("GET", base).catch(() => ({ resources: [] }));
                for (const r of list.resources ?? []) {
                    if (String(r.name).includes("/")) continue; // subresources
                    found.set(`${apiVersion}/${r.kind}`, { base, plural: r.name, namespaced: Boolean(r.namespaced) });
                }
            }),
        );
        this.discovered = found;
    }

    /** Whether the object (by apiVersion, kind, namespace and name) exists in the cluster. */
    async exists(object: {
        apiVersion: string;
        kind: string;
        metadata: { name: string; namespace?: string };
    }): Promise<boolean> {
        const path = await this.pathOf(object);
        if (!path) return false; // a kind the server does not serve (yet): no object of it can exist
        try {
            await this.request("GET", path);
            return true;
        } catch (err) {
            if (err instanceof KubeError && err.status === 404) return false;
            throw err;
        }
    }

    /**
     * Server-side apply of one YAML document, dry run: the API server decodes the YAML itself
     * (sigs.k8s.io/yaml, YAML 1.1, as kubectl does) and validates the object; nothing is stored.
     */
    async applyYamlDryRun(
        object: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } },
        yaml: string,
    ): Promise<void> {
        const path = await this.pathOf(object);
        if (!path) throw new Error(`${object.apiVersion} ${object.kind} is not served by the API server`);
        await this.request(
            "PATCH",
            `${path}?dryRun=All&fieldManager=e2e-render-check&force=true`,
            yaml,
            "application/apply-patch+yaml",
        );
    }

    async remove(kind: string, namespace: string | undefined, name: string): Promise<void> {
        try {
            await this.request("DELETE", resourcePath(kind, namespace, name));
        } catch (err) {
            if (!(err instanceof KubeError && err.status === 404)) throw err;
        }
    }

    async logs(namespace: string, pod: string): Promise<string> {
        return this.request("GET", `/api/v1/namespaces/${namespace}/pods/${pod}/log`);
    }
}
