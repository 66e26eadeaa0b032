/**
 * The interrupted ups' scenarios (e2e/interrupted.e2e.ts): the stack's moves between stages, each
 * with its interruption (the engine killed after its first create, half-way or at its first
 * delete; or kube-apiserver restarted half-way) and, for two of them, a wrong recovery tried first;
 * and `killPoint`, where in an up's engine events each interruption falls.
 */
import { expectedChanges, inAppScope } from "../harness";
import { EngineStep } from "../engineSteps";
import { KillPoint } from "../interruptedUp";
import { StageName } from "../../stages/model";
import type { TrafficApi } from "../../stages/traffic/router";

export type Interruption =
    "after its first create" | "half-way" | "at its first delete" | "kube-apiserver restarted half-way";

export interface Scenario {
    from: StageName;
    to: StageName;
    interruption: Interruption;
    /** A wrong recovery tried on this scenario's killed state first (then the state is put back). */
    control?: "--import-pending-creates" | "--clear-pending-creates";
}

/**
 * The stack's moves, each interrupted, each starting where the one before converged. Lockdown ->
 * canary has no delete; canary -> finalize creates only its carry Job, so its pending creates are
 * few and its interruptions fall among its updates and deletes.
 */
export const SCENARIOS: Scenario[] = [
    { from: "lockdown", to: "canary", interruption: "after its first create", control: "--import-pending-creates" },
    { from: "canary", to: "finalize", interruption: "after its first create" },
    { from: "finalize", to: "canary", interruption: "after its first create", control: "--clear-pending-creates" },
    { from: "canary", to: "finalize", interruption: "half-way" },
    { from: "finalize", to: "canary", interruption: "half-way" },
    { from: "canary", to: "finalize", interruption: "at its first delete" },
    { from: "finalize", to: "canary", interruption: "at its first delete" },
    { from: "canary", to: "lockdown", interruption: "kube-apiserver restarted half-way" },
    { from: "lockdown", to: "canary", interruption: "half-way" },
];

const CHANGING = ["create", "update", "delete"];

/** A step of the app (its namespace) that changes something: a create, an update or a delete. */
export const changesApp = (e: EngineStep) => CHANGING.includes(e.op) && inAppScope(e);

/** Where to interrupt the up from -> to, from the stage table's count of its steps. */
export function killPoint(interruption: Interruption, from: StageName, to: StageName, api: TrafficApi): KillPoint {
    const expected = expectedChanges(from, to, api);
    const steps = expected.create.length + expected.update.length + expected.delete.length;
    if (interruption === "after its first create")
        return (e) => e.phase === "done" && e.op === "create" && changesApp(e);
    if (interruption === "at its first delete") return (e) => e.phase === "start" && e.op === "delete" && changesApp(e);
    return (_e, events) => events.filter((x) => x.phase === "done" && changesApp(x)).length >= Math.ceil(steps / 2);
}
