/**
 * What an interrupted up left, in the stack's state and in the cluster: the state's pending
 * operations (`pendingOf`) and its resources outside the app (`urnsOutsideTheApp`), the pending
 * creates whose object the API server holds (`heldPendingCreates`), a resource's Kind/name
 * (`label`), and objects read back from the cluster as a program run (`asRun`, `completedJobsOnly`)
 * for the unit suite's carry rules.
 */
import { ProgramRun, RegisteredResource } from "../../mock/runProgram";
import { KubeClient, KubeObject } from "../kube";
import { APP_NAMESPACE } from "../../stages/names";

/** A pending operation of the state: its type ("creating", ...) and the resource. */
export type PendingOperation = { type: string; resource: any };

/** Pending operations as "creating Kind/name, ...", or "none": the suite's report of what a run left. */
export const describePending = (pending: PendingOperation[]): string =>
    pending.map((p) => `${p.type} ${label(p.resource)}`).join(", ") || "none";

/** Objects read back from the cluster as a program run of them (for the unit suite's carry rules). */
export function asRun(objects: KubeObject[]): ProgramRun {
    const resources = objects.map(
        (o) =>
            ({
                urn: `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`,
                type: `kubernetes:${o.apiVersion.includes("/") ? o.apiVersion : `core/${o.apiVersion}`}:${o.kind}`,
                name: o.metadata.name,
                custom: true,
                inputs: o,
                secretInputs: [],
                parent: "",
                provider: "",
                dependencies: [],
                protect: false,
                retainOnDelete: false,
                deleteBeforeReplace: false,
                ignoreChanges: [],
                read: false,
                id: "",
            }) as RegisteredResource,
    );
    return { resources, outputs: {}, secretOutputs: [], warnings: [] };
}

/** A Job counts as there once it completed: the engine's create of a Job ends with its completion. */
export const completedJobsOnly = (objects: KubeObject[]) =>
    objects.filter(
        (o) =>
            o.kind !== "Job" ||
            (o.status?.conditions ?? []).some((c: any) => c.type === "Complete" && c.status === "True"),
    );

/** The URNs of a state's resources outside the app's namespace (Istio, the providers, the stack). */
export function urnsOutsideTheApp(state: { deployment: any }): string[] {
    return (state.deployment.resources ?? [])
        .filter((r: any) => !(r.inputs?.metadata?.namespace === APP_NAMESPACE))
        .map((r: any) => r.urn)
        .sort();
}

export const pendingOf = (state: { deployment: any }): PendingOperation[] => state.deployment.pending_operations ?? [];

/** The pending creates whose object the cluster holds, as Kind/name. */
export async function heldPendingCreates(kube: KubeClient, ops: PendingOperation[]): Promise<string[]> {
    const held: string[] = [];
    for (const p of ops.filter((o) => o.type === "creating" && o.resource.inputs?.kind)) {
        if (await kube.exists(p.resource.inputs)) held.push(label(p.resource));
    }
    return held.sort();
}

/** A resource of the state as Kind/name, as the harness labels objects. */
export function label(resource: { type: string; urn: string; inputs?: any }): string {
    return resource.inputs?.kind && resource.inputs?.metadata?.name
        ? `${resource.inputs.kind}/${resource.inputs.metadata.name}`
        : `${resource.type.split(":").pop()}/${resource.urn.split("::").pop()}`;
}
