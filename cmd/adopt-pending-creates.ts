/**
 * `npm run --silent adopt-pending-creates -- [--stack <name>] [--dry-run]`
 *
 * After a `pulumi up` was killed (a CI time limit, a cancelled job, a lost connection) and `pulumi
 * cancel` released its lock: puts into the stack's state the Kubernetes objects the killed run had
 * begun to create, so that the next `pulumi up` does not create them again. From Kubernetes provider
 * 4.29 on, a create of an object that exists fails with AlreadyExists; such an object may well exist,
 * because the engine records a create as done only once the object is ready (a Deployment's pods, a
 * Job's completion), long after the API server stored it.
 *
 * What the Pulumi CLI (3.276) does with these "pending creates" (its own code):
 *  - `pulumi up` warns about them, plans a create for each resource the program still registers,
 *    and copies them into the new state unchanged, forever (pkg/backend/snapshot.go and journal.go:
 *    "we don't want to clear pending CREATE operations");
 *  - `pulumi refresh --clear-pending-creates` drops them: the objects stay in the cluster, unknown
 *    to the state;
 *  - `pulumi refresh --import-pending-creates <urn> <id>` only marks them "importing"; the refresh
 *    then reads the resources of the state alone and writes back the creating operations alone, so
 *    they are dropped as with --clear-pending-creates (cmd/pulumi/operations/refresh.go,
 *    pkg/resource/deploy/deployment_executor.go `refresh`).
 * So this script does the adoption that flag means: `pulumi stack export`, each pending create of a
 * Kubernetes object moved into the resources with its ID (`<namespace>/<name>`, the provider's ID of
 * an object; `<name>` without a namespace) and its inputs as the program sent them, then `pulumi
 * stack import` (which also drops the pending updates and deletes, as any later update would). The
 * `pulumi refresh` that must follow reads each adopted object from the cluster, and drops from the
 * state every one the killed run never got to create; `pulumi up` then finishes the stage (README,
 * "If `pulumi up` was interrupted"). A pending create of a component is adopted as it is, one of a
 * provider dropped (the next `up` makes it again); one of anything else (an Azure resource of a
 * first `up`) stops the script with nothing changed: check it in Azure and import it by hand.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseArgs } from "util";

const ROOT = path.resolve(__dirname, "..");

/** A resource as `pulumi stack export` writes it (apitype.ResourceV3): the fields used here. */
export interface ExportedResource {
    urn: string;
    type: string;
    custom?: boolean;
    id?: string;
    inputs?: Record<string, any>;
    [field: string]: unknown;
}

/** A deployment as `pulumi stack export` writes it (apitype.DeploymentV3): the fields used here. */
export interface ExportedDeployment {
    resources?: ExportedResource[];
    pending_operations?: { resource: ExportedResource; type: string }[];
    [field: string]: unknown;
}

export interface Adoption {
    /** The state with the pending creates adopted and no pending operation left. */
    deployment: ExportedDeployment;
    /** Each adopted resource, as "URN = ID" (components: the URN alone). */
    adopted: string[];
    /** Pending creates dropped: a provider's (made again by the next up), or a URN already in the state. */
    dropped: string[];
    /** The other pending operations (updates, deletes, reads), which `pulumi stack import` drops. */
    others: string[];
    /** Pending creates this script cannot adopt; when there is one, nothing may be imported. */
    refused: string[];
}

/** A value `pulumi stack export` shows as a secret (its ciphertext), not as plain data. */
const isSecret = (value: unknown) =>
    typeof value === "object" && value !== null && "4dabf18193072939515e22adb298388d" in value;

/** The Kubernetes provider's ID of the object a resource's inputs describe, or why there is none. */
export function kubernetesId(resource: ExportedResource): { id: string } | { why: string } {
    const inputs = resource.inputs ?? {};
    if (resource.type === "kubernetes:helm.sh/v3:Release") {
        const { name, namespace } = inputs;
        if (typeof name !== "string" || isSecret(name)) return { why: "the release's name is not in its inputs" };
        return { id: typeof namespace === "string" && namespace ? `${namespace}/${name}` : name };
    }
    const metadata = inputs.metadata;
    if (!metadata || isSecret(metadata) || typeof metadata.name !== "string")
        return { why: "metadata.name is not in its inputs" };
    const namespace = metadata.namespace;
    if (namespace !== undefined && typeof namespace !== "string") return { why: "metadata.namespace is not plain" };
    return { id: namespace ? `${namespace}/${metadata.name}` : metadata.name };
}

/** The adoption of every pending create of `deployment` (the input is not changed). */
export function adoptPendingCreates(deployment: ExportedDeployment): Adoption {
    const resources = [...(deployment.resources ?? [])];
    const inState = new Set(resources.map((r) => r.urn));
    const result: Omit<Adoption, "deployment"> = { adopted: [], dropped: [], others: [], refused: [] };
    for (const op of deployment.pending_operations ?? []) {
        const r = op.resource;
        if (op.type !== "creating") {
            result.others.push(`${op.type} ${r.urn}`);
            continue;
        }
        if (inState.has(r.urn)) {
            result.dropped.push(`${r.urn} (already in the state: a later up made it)`);
            continue;
        }
        if (!r.custom) {
            resources.push({ ...r });
            inState.add(r.urn);
            result.adopted.push(r.urn);
            continue;
        }
        if (r.type.startsWith("pulumi:providers:")) {
            result.dropped.push(`${r.urn} (a provider: the next up makes it again)`);
            continue;
        }
        if (!r.type.startsWith("kubernetes:")) {
            result.refused.push(`${r.urn}: not a Kubernetes object, its ID cannot be known here`);
            continue;
        }
        const id = kubernetesId(r);
        if ("why" in id) {
            result.refused.push(`${r.urn}: ${id.why}`);
            continue;
        }
        // Appended: what it depends on (its parent, provider and dependencies) was in the state
        // before the engine began its create, so the order stays valid.
        resources.push({ ...r, id: id.id });
        inState.add(r.urn);
        result.adopted.push(`${r.urn} = ${id.id}`);
    }
    return { deployment: { ...deployment, resources, pending_operations: [] }, ...result };
}

function pulumi(args: string[], stack: string | undefined): string {
    const result = spawnSync("pulumi", [...args, ...(stack ? ["--stack", stack] : []), "--non-interactive"], {
        cwd: ROOT,
        encoding: "utf8",
        maxBuffer: 256 * 1024 * 1024,
    });
    if (result.status !== 0)
        throw new Error(`pulumi ${args.join(" ")} failed (${result.status}):\n${result.stderr || result.stdout}`);
    return result.stdout;
}

function main(argv: string[]): number {
    const { values } = parseArgs({
        args: argv,
        options: { stack: { type: "string" }, "dry-run": { type: "boolean" } },
    });
    const stack = values.stack;
    const say = (line: string) => process.stdout.write(`adopt-pending-creates: ${line}\n`);
    const exported = JSON.parse(pulumi(["stack", "export"], stack)) as {
        version: number;
        deployment: ExportedDeployment;
    };
    const pending = exported.deployment.pending_operations ?? [];
    if (pending.length === 0) {
        say("no pending operation in the state: nothing to adopt");
        return 0;
    }
    const adoption = adoptPendingCreates(exported.deployment);
    for (const line of adoption.adopted) say(`adopt ${line}`);
    for (const line of adoption.dropped) say(`drop ${line}`);
    for (const line of adoption.others) say(`drop the pending ${line} (pulumi refresh reads it as it is now)`);
    if (adoption.refused.length > 0) {
        for (const line of adoption.refused) say(`cannot adopt ${line}`);
        say(
            "nothing changed: find these in their cloud, then `pulumi import` them, or drop them with `pulumi refresh --clear-pending-creates`",
        );
        return 1;
    }
    if (values["dry-run"]) {
        say("--dry-run: nothing changed");
        return 0;
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "adopt-pending-creates-"));
    try {
        const file = path.join(dir, "state.json");
        fs.writeFileSync(file, JSON.stringify({ ...exported, deployment: adoption.deployment }));
        pulumi(["stack", "import", "--file", file], stack);
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
    say(
        `imported: ${adoption.adopted.length} adopted, no pending operation left; now run \`pulumi refresh\`, then \`pulumi up\``,
    );
    return 0;
}

if (require.main === module) {
    try {
        process.exit(main(process.argv.slice(2)));
    } catch (err) {
        process.stderr.write(`adopt-pending-creates: ${(err as Error).message}\n`);
        process.exit(1);
    }
}
