/**
 * What istiod's gateway controller says of the program's Gateway API objects after an up in Gateway
 * API (their status conditions at their current generation), for the walk's control-plane checks
 * and its weighted canary.
 */
import { strict as assert } from "assert";
import { objectLabel } from "../../mock/changes";
import { GATEWAY_API_GROUP } from "../harness";
import { WalkContext } from "./context";

/** Whose status istiod's gateway controller writes (Istio's GatewayClasses' controllerName). */
export const ISTIO_GATEWAY_CONTROLLER = "istio.io/gateway-controller";

/** A condition list's problems against the wanted statuses, at the object's current generation. */
function conditionProblems(
    what: string,
    conditions: any[] | undefined,
    generation: number,
    wanted: Record<string, "True" | "False">,
): string[] {
    return Object.entries(wanted).flatMap(([type, status]) => {
        const c = (conditions ?? []).find((x) => x.type === type);
        if (!c) return [`${what}: no ${type} condition`];
        if (c.observedGeneration !== undefined && c.observedGeneration !== generation)
            return [`${what}: ${type} is of generation ${c.observedGeneration}, the object's is ${generation}`];
        return c.status === status ? [] : [`${what}: ${type}=${c.status} (${c.reason}: ${c.message})`];
    });
}

/** Whether a route status's parentRef is the spec's (Gateway API's defaults filled in on both sides). */
function sameParent(a: any, b: any): boolean {
    const key = (r: any) =>
        JSON.stringify([
            r.group ?? GATEWAY_API_GROUP,
            r.kind ?? "Gateway",
            r.namespace ?? "",
            r.name,
            r.sectionName ?? "",
            r.port ?? 0,
        ]);
    return key(a) === key(b);
}

/**
 * What istiod's gateway controller says of the program's Gateway API objects, at their current
 * generation: the GatewayClass and the Gateway Accepted, the Gateway and its listeners
 * Programmed (its address resolved to the ingress gateway's Service and pods), every HTTPRoute
 * Accepted with its references resolved on every parent it names (the Gateway's listener, or
 * the Service in the mesh). Waits for istiod to catch up with the last up (a minute at most).
 */
export async function checkGatewayApiStatus(walk: WalkContext, what: string) {
    const { kube, checks } = walk;
    const problemsNow = async (): Promise<string[]> => {
        const objects = (await checks.liveObjects()).filter((o) => o.apiVersion.startsWith(`${GATEWAY_API_GROUP}/`));
        const problems: string[] = [];
        if (objects.length === 0) problems.push("no Gateway API object");
        for (const o of objects) {
            const generation = o.metadata.generation as number;
            const label = objectLabel(o);
            if (o.kind === "Gateway") {
                const gatewayClass = await kube.get("GatewayClass", undefined, o.spec.gatewayClassName);
                problems.push(
                    ...conditionProblems(
                        `GatewayClass/${o.spec.gatewayClassName}`,
                        gatewayClass?.status?.conditions,
                        (gatewayClass?.metadata.generation as number | undefined) ?? 0,
                        { Accepted: "True" },
                    ),
                    ...conditionProblems(label, o.status?.conditions, generation, {
                        Accepted: "True",
                        Programmed: "True",
                    }),
                );
                for (const listener of o.spec.listeners ?? []) {
                    const status = (o.status?.listeners ?? []).find((l: any) => l.name === listener.name);
                    problems.push(
                        ...conditionProblems(`${label} listener ${listener.name}`, status?.conditions, generation, {
                            Accepted: "True",
                            Programmed: "True",
                            ResolvedRefs: "True",
                            Conflicted: "False",
                        }),
                    );
                }
                continue;
            }
            for (const ref of o.spec.parentRefs ?? []) {
                const parent = (o.status?.parents ?? []).find(
                    (p: any) => p.controllerName === ISTIO_GATEWAY_CONTROLLER && sameParent(p.parentRef, ref),
                );
                problems.push(
                    ...conditionProblems(
                        `${label} on ${ref.kind ?? "Gateway"} ${ref.name}`,
                        parent?.conditions,
                        generation,
                        { Accepted: "True", ResolvedRefs: "True" },
                    ),
                );
            }
        }
        return problems;
    };
    const deadline = Date.now() + 60_000;
    let problems = await problemsNow();
    while (problems.length && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 500));
        problems = await problemsNow();
    }
    assert.deepEqual(problems, [], `${what}: istiod's gateway controller on the Gateway API objects`);
}
