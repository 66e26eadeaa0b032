/**
 * What one `pulumi up` from one program run to another changes, as the engine sees it: each
 * registered resource created, updated, deleted or left the same, and the dependencies that order
 * those steps. `plan` and the transition tests use it.
 */
import { asKubernetesObject, ProgramRun, RegisteredResource } from "./runProgram";

export type StepKind = "create" | "update" | "delete" | "same";

export interface Step {
    urn: string;
    kind: StepKind;
    label: string;
    before?: RegisteredResource;
    after?: RegisteredResource;
}

/**
 * Kinds two traffic APIs both name: Gateway API's `Gateway` is labelled with its group, as kubectl
 * qualifies a kind (`Gateway.gateway.networking.k8s.io/voting-app-gateway`), so that a step that
 * switches API reads as one Gateway created and another deleted; Istio's keeps the plain kind.
 */
const QUALIFIED_KINDS: Record<string, string[]> = { "gateway.networking.k8s.io": ["Gateway"] };

/** `Kind/name` of a Kubernetes object (the kind qualified by its group where QUALIFIED_KINDS says). */
export function objectLabel(o: { apiVersion: string; kind: string; metadata: { name: string } }): string {
    const group = o.apiVersion.includes("/") ? o.apiVersion.split("/")[0] : "";
    const kind = QUALIFIED_KINDS[group]?.includes(o.kind) ? `${o.kind}.${group}` : o.kind;
    return `${kind}/${o.metadata.name}`;
}

export function label(r: RegisteredResource): string {
    const o = asKubernetesObject(r);
    return o ? objectLabel(o) : `${r.type.split(":").pop()}/${r.name}`;
}

const comparable = (r: RegisteredResource) => JSON.stringify(r.inputs);

export function diff(from: ProgramRun, to: ProgramRun): Step[] {
    const before = new Map(from.resources.filter((r) => !r.read).map((r) => [r.urn, r]));
    const after = new Map(to.resources.filter((r) => !r.read).map((r) => [r.urn, r]));
    const steps: Step[] = [];
    for (const [urn, r] of after) {
        const old = before.get(urn);
        steps.push({
            urn,
            label: label(r),
            before: old,
            after: r,
            kind: !old ? "create" : comparable(old) === comparable(r) ? "same" : "update",
        });
    }
    for (const [urn, r] of before) if (!after.has(urn)) steps.push({ urn, label: label(r), before: r, kind: "delete" });
    return steps;
}

/** The transitive dependencies of each resource in a run. */
export function closure(run: ProgramRun): Map<string, Set<string>> {
    const direct = new Map(run.resources.map((r) => [r.urn, r.dependencies]));
    const memo = new Map<string, Set<string>>();
    const visit = (urn: string, stack: Set<string>): Set<string> => {
        const known = memo.get(urn);
        if (known) return known;
        if (stack.has(urn)) throw new Error(`dependency cycle through ${urn}`);
        stack.add(urn);
        const all = new Set<string>();
        for (const d of direct.get(urn) ?? []) {
            all.add(d);
            for (const t of visit(d, stack)) all.add(t);
        }
        stack.delete(urn);
        memo.set(urn, all);
        return all;
    };
    for (const urn of direct.keys()) visit(urn, new Set());
    return memo;
}
