/**
 * What one `pulumi up` from one stage to another does, and every state the cluster passes through
 * on the way, given the order in which the Pulumi engine applies steps:
 *  - creates and updates run as the program registers resources; a resource's step starts only
 *    after the steps of everything it depends on (dependsOn and input Outputs) have finished,
 *    and a Deployment's step finishes only when its pods are ready;
 *  - deletes run at the end, in reverse dependency order of the old state.
 * Independent steps may run in any order or in parallel, so every order allowed by the
 * dependencies is a state the cluster can be seen in.
 */
import { closure, diff, Step } from "../../mock/changes";
import { asKubernetesObject, KubernetesObject, ProgramRun, RegisteredResource } from "../../mock/runProgram";

/** All subsets of `items` closed under `requires` (if x is in, everything x requires is in). */
function downSets(items: string[], requires: (x: string) => string[]): Set<string>[] {
    const result: Set<string>[] = [];
    const grow = (i: number, chosen: Set<string>) => {
        if (i === items.length) {
            if ([...chosen].every((x) => requires(x).every((r) => chosen.has(r)))) result.push(new Set(chosen));
            return;
        }
        grow(i + 1, chosen);
        chosen.add(items[i]);
        grow(i + 1, chosen);
        chosen.delete(items[i]);
    };
    if (items.length > 16) throw new Error(`too many steps to enumerate (${items.length})`);
    grow(0, new Set());
    return result;
}

/**
 * The steps that can change routing: the `relevant` filter for `intermediateStates` when routing is
 * what is checked. Both traffic APIs: Istio's Gateway, DestinationRule and VirtualService, Gateway
 * API's Gateway (labelled with its group) and HTTPRoute.
 */
export const ROUTING_KINDS =
    /^(Deployment|Service|DestinationRule|VirtualService|Gateway|Gateway\.gateway\.networking\.k8s\.io|HTTPRoute|PeerAuthentication)\//;

export interface IntermediateState {
    description: string;
    objects: KubernetesObject[];
    /** Every create and update is done and deletes have begun (or are about to). */
    deleting: boolean;
}

/**
 * Every state of the Kubernetes objects during the update from `from` to `to`, limited to the
 * steps for which `relevant` is true (the others are applied as soon as allowed; they cannot
 * change routing), except the `lazy` ones: steps that only permit what the relevant steps do (an
 * AuthorizationPolicy allowing a call), taken at their worst, without enumerating them: a lazy
 * create or update is applied only once a relevant step that depends on it is, and a lazy delete
 * as soon as everything that depended on it (in the old state) is deleted.
 */
export function intermediateStates(
    from: ProgramRun,
    to: ProgramRun,
    relevant: (s: Step) => boolean,
    lazy: (s: Step) => boolean = () => false,
): IntermediateState[] {
    const steps = diff(from, to).filter((s) => s.kind !== "same");
    const forward = steps.filter((s) => s.kind !== "delete" && relevant(s));
    const deletes = steps.filter((s) => s.kind === "delete" && relevant(s));
    const lazySteps = steps.filter((s) => !relevant(s) && lazy(s));
    const newDeps = closure(to);
    const oldDeps = closure(from);
    const forwardUrns = forward.map((s) => s.urn);
    const deleteUrns = deletes.map((s) => s.urn);

    /** Lazy steps applied in a state: creates/updates some applied relevant step needs; deletes nothing old still needs. */
    const lazyApplied = (applied: Set<string>, deleted: Set<string>, allForward: boolean): Set<string> => {
        const out = new Set<string>();
        for (const s of lazySteps.filter((x) => x.kind !== "delete")) {
            if (allForward || [...applied].some((u) => newDeps.get(u)?.has(s.urn))) out.add(s.urn);
        }
        if (!allForward) return out;
        // A delete runs once every delete that depended on it has run (lazy ones as early as they can).
        const lazyDeletes = lazySteps.filter((x) => x.kind === "delete").map((x) => x.urn);
        const allDeletes = steps.filter((x) => x.kind === "delete").map((x) => x.urn);
        let grew = true;
        while (grew) {
            grew = false;
            for (const u of lazyDeletes) {
                if (out.has(u)) continue;
                const waitsFor = allDeletes.filter((d) => d !== u && oldDeps.get(d)?.has(u));
                if (
                    waitsFor.every((d) => deleted.has(d) || out.has(d) || !deleteUrns.concat(lazyDeletes).includes(d))
                ) {
                    out.add(u);
                    grew = true;
                }
            }
        }
        return out;
    };

    const objectsFor = (applied: Set<string>, deleted: Set<string>, allForward: boolean): KubernetesObject[] => {
        const out: KubernetesObject[] = [];
        const stepByUrn = new Map(steps.map((s) => [s.urn, s]));
        const lazyDone = lazyApplied(applied, deleted, allForward);
        const urns = new Set([...from.resources.map((r) => r.urn), ...to.resources.map((r) => r.urn)]);
        for (const urn of urns) {
            const step = stepByUrn.get(urn);
            let resource: RegisteredResource | undefined;
            if (!step) resource = to.resources.find((r) => r.urn === urn && !r.read);
            else if (!relevant(step) && lazy(step))
                resource =
                    step.kind === "delete"
                        ? lazyDone.has(urn)
                            ? undefined
                            : step.before
                        : lazyDone.has(urn)
                          ? step.after
                          : step.before;
            else if (step.kind === "delete")
                resource = deleted.has(urn) || (!relevant(step) && allForward) ? undefined : step.before;
            else if (!relevant(step)) resource = allForward ? step.after : (step.before ?? step.after);
            else resource = applied.has(urn) ? step.after : step.before;
            const object = resource && asKubernetesObject(resource);
            if (object) out.push(object);
        }
        return out;
    };

    const states: IntermediateState[] = [];
    for (const set of downSets(forwardUrns, (u) =>
        [...(newDeps.get(u) ?? [])].filter((d) => forwardUrns.includes(d)),
    )) {
        const done = steps.filter((s) => set.has(s.urn)).map((s) => `${s.kind} ${s.label}`);
        states.push({
            description: `after [${done.join(", ")}]`,
            objects: objectsFor(set, new Set(), false),
            deleting: false,
        });
    }
    const all = new Set(forwardUrns);
    // Deleting x waits until everything that depended on x (in the old state) is deleted.
    const dependents = (u: string) => deleteUrns.filter((d) => oldDeps.get(d)?.has(u));
    for (const set of downSets(deleteUrns, dependents)) {
        const done = steps.filter((s) => set.has(s.urn)).map((s) => `delete ${s.label}`);
        states.push({
            description: `after every create/update, then [${done.join(", ")}]`,
            objects: objectsFor(all, set, true),
            deleting: true,
        });
    }
    return states;
}
