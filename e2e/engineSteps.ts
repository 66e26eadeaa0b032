/**
 * The engine's steps as the harness records them from the Automation API's events: a preview's
 * planned steps (`PlannedStep`, from each step's resourcePreEvent) and an up's events (`EngineStep`,
 * each step's start and finish), each labelled as `plan` labels objects (`labelOf`).
 */
import { EngineEvent, OpType } from "@pulumi/pulumi/automation";
import { objectLabel } from "../mock/changes";
import type { AppliedStep } from "../test/support/carry";

export interface PlannedStep {
    op: OpType;
    urn: string;
    type: string;
    /**
     * Kind/name for Kubernetes objects ("Deployment/voting-app-1-0"; Gateway API's Gateway with its
     * group, as `plan` labels it: mock/changes.ts objectLabel), else type/name.
     */
    label: string;
    namespace?: string;
    /** Pulumi refuses to delete it. */
    protect: boolean;
    /** A delete only forgets it: the object stays in the cluster (retainOnDelete). */
    retainOnDelete: boolean;
    /** A custom resource (a provider's object), not a component or the stack. */
    custom: boolean;
    /** For Kubernetes objects: what the step would write (apiVersion, kind, name, namespace). */
    object?: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } };
}

export function labelOf(
    type: string,
    urn: string,
    inputs?: Record<string, any>,
): { label: string; namespace?: string } {
    const name = urn.split("::").pop() ?? urn;
    const kubernetes = /^kubernetes:(?!helm)([^:]+):(\w+)$/.exec(type);
    if (kubernetes && inputs?.metadata?.name) {
        // The object's own apiVersion and kind where the inputs carry them, else the type's.
        const apiVersion =
            typeof inputs.apiVersion === "string" ? inputs.apiVersion : kubernetes[1].replace(/^core\//, "");
        const kind = typeof inputs.kind === "string" ? inputs.kind : kubernetes[2];
        return {
            label: objectLabel({ apiVersion, kind, metadata: { name: inputs.metadata.name } }),
            namespace: inputs.metadata.namespace,
        };
    }
    return { label: `${type.split(":").pop()}/${name}` };
}

/** A preview's planned step (its resourcePreEvent) as a PlannedStep; undefined for other events. */
export function plannedStep(event: EngineEvent): PlannedStep | undefined {
    const m = event.resourcePreEvent?.metadata;
    if (!m) return undefined;
    const inputs = (m.new ?? m.old)?.inputs;
    const { label, namespace } = labelOf(m.type, m.urn, inputs);
    const protect = Boolean((m.old ?? m.new)?.protect);
    const retainOnDelete = Boolean((m.old ?? m.new)?.retainOnDelete);
    const custom = Boolean((m.new ?? m.old)?.custom);
    const object =
        inputs?.apiVersion && inputs?.kind && typeof inputs?.metadata?.name === "string"
            ? (inputs as PlannedStep["object"])
            : undefined;
    return {
        op: m.op,
        urn: m.urn,
        type: m.type,
        label,
        namespace,
        protect,
        retainOnDelete,
        custom,
        object,
    };
}

/** One engine event of an `up` run by the driver (its step's start or finish), with its URN. */
export interface EngineStep extends AppliedStep {
    urn: string;
    type: string;
    namespace?: string;
}

/** A step's start (resourcePreEvent) or finish (resOutputsEvent) as an EngineStep; undefined for other events. */
export function engineStep(event: EngineEvent): EngineStep | undefined {
    const start = event.resourcePreEvent?.metadata;
    const m = start ?? event.resOutputsEvent?.metadata;
    if (!m) return undefined;
    const { label, namespace } = labelOf(m.type, m.urn, (m.new ?? m.old)?.inputs);
    return { phase: start ? "start" : "done", op: m.op, label, urn: m.urn, type: m.type, namespace };
}
