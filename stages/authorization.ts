/**
 * Who may call whom in the mesh, per stage: least privilege on top of mTLS (which proves who is
 * calling). No Pulumi in here: `VotingApp` registers the AuthorizationPolicies this module returns.
 *
 * Each Deployment (and the vote carry's Job) runs under a ServiceAccount of its own, so its mTLS
 * identity names it: cluster.local/ns/voting/sa/voting-app-1-0. The namespace denies every call by
 * default (`allow-nothing`, Istio's documented pattern), and each call a stage makes is allowed by a
 * policy of its own, by the caller's identity and the callee's port:
 *  - the ingress gateway -> the app versions the stage serves users (without and with the flag
 *    cookie; at any canary weight, so that a weight change moves the ingress route only);
 *  - an app version -> the analytics versions it calls (its mesh routes; all running analytics
 *    versions where the Service round-robins);
 *  - every running app and analytics version -> its own store (a client checks its store to be ready);
 *  - the vote carry's Job -> the stores it reads and writes where the stage runs them.
 *
 * One policy per call, like the DestinationRule fragments: a call a stage adds is a Pulumi *create*,
 * which runs before whatever starts the call (the caller's Deployment, the callee's, which a
 * Service's round robin reaches as soon as it is ready, the ingress route, the Job depend on it); a
 * call a stage drops is a *delete*, which runs at the end of the update, after the routes stopped
 * sending it and after the caller's and callee's Deployments that go are deleted (they depend on it).
 * No policy ever changes in place, so no call is revoked while something still makes it.
 */
import { analyticsCalledBy, Component, STORAGE_ENGINES, StagePlan, storageFor, voteCarry, WorkloadRef } from "./model";
import { APP_PORT, CARRY_VOTES, workloadName } from "./names";

/** Who makes a call: a workload of the app, the ingress gateway, or the vote carry's Job. */
export type Caller = { workload: WorkloadRef } | { ingressGateway: true } | { carryVotes: true };

/** One call a stage makes: from a caller to the pods of one workload, on one port. */
export interface AllowedCall {
    from: Caller;
    to: WorkloadRef;
    port: number;
    protocol: "http" | "tcp";
}

/** The ingress gateway's mTLS identity: its namespace and ServiceAccount. */
export interface GatewayIdentity {
    namespace: string;
    serviceAccount: string;
}

/** The ServiceAccount a workload's pods run under: the Deployment's own name. */
export function serviceAccountOf(ref: WorkloadRef): string {
    return workloadName(ref);
}

/** How a caller is named in policy names and in `plan`: voting-app-1-0, ingress-gateway, carry-votes. */
export function callerName(caller: Caller): string {
    if ("workload" in caller) return workloadName(caller.workload);
    return "ingressGateway" in caller ? "ingress-gateway" : CARRY_VOTES;
}

/**
 * The caller's SPIFFE identity as an AuthorizationPolicy names it (without spiffe://). `cluster.local`
 * stands for the mesh's own trust domain and its aliases, whatever the mesh calls it (Istio replaces
 * it: pilot/pkg/security/trustdomain, ReplaceTrustDomainAliases).
 */
export function principalOf(caller: Caller, appNamespace: string, gateway: GatewayIdentity): string {
    if ("ingressGateway" in caller) return `cluster.local/ns/${gateway.namespace}/sa/${gateway.serviceAccount}`;
    const account = "workload" in caller ? serviceAccountOf(caller.workload) : CARRY_VOTES;
    return `cluster.local/ns/${appNamespace}/sa/${account}`;
}

/** Every call a stage makes, each once, in a stable order (see the module comment for which). */
export function allowedCalls(plan: StagePlan): AllowedCall[] {
    const { stage } = plan;
    const running = (component: Component) =>
        plan.workloads.filter((wl) => wl.component === component).map((wl) => wl.version);
    const calls: AllowedCall[] = [];
    const http = (from: Caller, to: WorkloadRef) => calls.push({ from, to, port: APP_PORT, protocol: "http" });
    const store = (from: Caller, version: keyof typeof STORAGE_ENGINES) =>
        calls.push({
            from,
            to: { component: "voting-storage", version },
            port: STORAGE_ENGINES[version].port,
            protocol: "tcp",
        });

    // The stage's own, whatever the canary weight: moving the weight moves the ingress route only.
    for (const version of [...new Set([stage.defaultAppVersion, stage.flaggedAppVersion])].sort())
        http({ ingressGateway: true }, { component: "voting-app", version });
    for (const app of running("voting-app")) {
        for (const version of analyticsCalledBy(stage, app))
            http({ workload: { component: "voting-app", version: app } }, { component: "voting-analytics", version });
    }
    for (const component of ["voting-app", "voting-analytics"] as const)
        for (const version of running(component))
            store({ workload: { component, version } }, storageFor(component, version));
    if (voteCarry(stage))
        for (const version of running("voting-storage") as (keyof typeof STORAGE_ENGINES)[])
            store({ carryVotes: true }, version);
    return calls;
}

/** The name of the AuthorizationPolicy allowing one call: voting-app-1-0-to-voting-storage-1-0. */
export function allowPolicyName(call: AllowedCall): string {
    return `${callerName(call.from)}-to-${workloadName(call.to)}`;
}

/**
 * The namespace's deny by default: an ALLOW policy without rules matches nothing, and a workload
 * that some ALLOW policy selects takes only the calls one of them matches (Istio's "allow-nothing").
 */
export const ALLOW_NOTHING = "allow-nothing";

/** The spec of the policy that allows one call: the callee's pods, the caller's identity, the port. */
export function allowPolicySpec(call: AllowedCall, appNamespace: string, gateway: GatewayIdentity) {
    return {
        selector: { matchLabels: { app: call.to.component, version: call.to.version } },
        action: "ALLOW",
        rules: [
            {
                from: [{ source: { principals: [principalOf(call.from, appNamespace, gateway)] } }],
                to: [{ operation: { ports: [String(call.port)] } }],
            },
        ],
    };
}

/** What a step from one stage plan to another allows and revokes, as "caller -> callee:port" lines. */
export function callChanges(from: StagePlan | undefined, to: StagePlan): { allows: string[]; revokes: string[] } {
    const describe = (c: AllowedCall) => `${callerName(c.from)} -> ${workloadName(c.to)}:${c.port}`;
    const before = new Set(from ? allowedCalls(from).map(describe) : []);
    const after = new Set(allowedCalls(to).map(describe));
    return {
        allows: [...after].filter((c) => !before.has(c)),
        revokes: [...before].filter((c) => !after.has(c)),
    };
}
