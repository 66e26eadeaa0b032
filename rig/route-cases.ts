/**
 * `node -r ts-node/register/transpile-only rig/route-cases.ts <outdir>`
 *
 * Writes the cases that tools/istio/routes (a Go test running Istio's own config generator) reads:
 * one JSON file per case (format: test/support/routeCases.ts, RouteCase), named after the case.
 * Every kind is written for both traffic APIs (traffic.api), with the same expectations: with
 * Istio's API (the default) under the names below, with Kubernetes Gateway API under the same
 * names prefixed `gateway-api/` (gateway-api/stage/canary, gateway-api/transition/...; Istio
 * translates Gateway API objects into the same kind of Envoy configuration).
 *   stage/<stage>                    every stage at the default settings, with the brief's routes
 *   canary/weight-<N>                the canary stage at canaryWeight 0, 30 and 100
 *   transition/<from>-><to>/<NN>     every state a `pulumi up` between adjacent stages passes
 *                                    through, both ways (test/support/transitions.ts), also with
 *                                    the weighted canary (canaryWeight 30); states with the same
 *                                    objects are one case (`alsoCovers` names the others). Checked
 *                                    for the invariant (every request and every storage client
 *                                    served, no route to an undefined or empty cluster) and, as
 *                                    test/transitions.test.ts does, that no chain mixes 1.x and 2.0
 *   control/<what>                   a real case with one thing removed or broken: the checker must
 *                                    report a problem of the kind the case names (the Gateway API
 *                                    controls are their own: gateway-api/control/<what>)
 *   api-switch/<stage>/<from>-><to>/<NN>
 *                                    every state of the `pulumi up` that switches traffic.api at one
 *                                    stage (and the weighted canary, canary(30)), istio->gateway-api
 *                                    and back: the new API's creates in dependency order while all of
 *                                    the old API's objects still exist, then the old API's deletes in
 *                                    reverse dependency order (test/support/transitions.ts). The stage
 *                                    does not change, so each state is held to the stage's own
 *                                    expectations (users' chains and shares, the sticky cookies,
 *                                    storage clients, each mesh route's version, through either API's
 *                                    cluster) and to the transition invariant (chains never mix 1.x
 *                                    and 2.0); states with the same objects are one case
 * Objects come from the real program under Pulumi's mocks (mock/runProgram.ts), as `pulumi up`
 * registers them; expectations from test/support/expected.ts and stages/model.ts.
 *
 *   ROUTE_CASES=/tmp/cases bash scripts/istio-tools.sh test   runs the Go test on them
 */
import * as fs from "fs";
import * as path from "path";
import type { Step } from "../mock/changes";
import { KubernetesObject, ProgramRun, StackConfig } from "../mock/runProgram";
import { AllowedCall, allowedCalls, callerName } from "../stages/authorization";
import { planStage, STAGE_NAMES, StageName } from "../stages/model";
import { APP_GATEWAY_NAME, APP_NAMESPACE } from "../stages/names";
import { TRAFFIC_APIS, TrafficApi } from "../stages/traffic";
import { expectedSticky, STICKY_COOKIES } from "../test/support/expected";
import { runStage } from "../test/support/runs";
import { intermediateStates, ROUTING_KINDS } from "../test/support/transitions";
import {
    COOKIES,
    RouteCase,
    StateOptions,
    buildState,
    caseObjects,
    caseObjectsOf,
    expectedAuthorization,
    expectedCalls,
    expectedUsers,
    gatewayReleaseOf,
    ingressHostOf,
    isGatewayApi,
    storageClientsOf,
} from "../test/support/routeCases";

const WEIGHTS = [0, 30, 100];

/** Each traffic API: the settings that select it and the prefix of its case names (none for the default). */
const APIS: Record<TrafficApi, { prefix: string; config: StackConfig }> = {
    istio: { prefix: "", config: {} },
    "gateway-api": { prefix: "gateway-api/", config: { "traffic.api": "gateway-api" } },
};

/**
 * The steps that can change routing: ROUTING_KINDS, and Gateway API's kinds whichever way a step's
 * label names them (mock/changes.ts labels Gateway API's Gateway with its group).
 */
const routingStep = (s: Step) =>
    ROUTING_KINDS.test(s.label) ||
    /^(Gateway\.gateway\.networking\.k8s\.io|HTTPRoute|GRPCRoute|GatewayClass)\//.test(s.label);

/**
 * AuthorizationPolicies only permit what the routing steps do: replayed at their worst (each allow
 * created only when something that depends on it is, deleted as soon as nothing does), not enumerated.
 */
const authorizationStep = (s: Step) => /^AuthorizationPolicy\//.test(s.label);

const sameCall = (a: AllowedCall, b: AllowedCall) =>
    JSON.stringify([callerName(a.from), a.to, a.port]) === JSON.stringify([callerName(b.from), b.to, b.port]);

/** The expectations of a stage (they do not depend on the API). */
function stageExpectations(
    stage: StageName,
    weight: number,
    objects: KubernetesObject[],
    state: Pick<RouteCase, "workloads" | "ingress">,
    apis: TrafficApi[],
): RouteCase["expect"] {
    const authorization = expectedAuthorization(
        objects,
        state,
        allowedCalls(planStage(stage, { canaryWeight: weight })),
    );
    return {
        users: expectedUsers(stage, weight),
        storageClients: storageClientsOf(objects),
        calls: expectedCalls(stage, state.workloads, apis, weight),
        ...(authorization ? { authorization } : {}),
        sticky: STICKY_COOKIES.map((cookie) => {
            const { chains, setCookie } = expectedSticky(stage, weight, cookie);
            return { cookie, chains: chains.map(([c, share]) => ({ ...c, share })), setCookie };
        }),
    };
}

function stageCase(
    name: string,
    description: string,
    api: TrafficApi,
    run: ProgramRun,
    stage: StageName,
    weight: number,
    objects = caseObjectsOf(run),
    options: StateOptions = {},
): RouteCase {
    const state = buildState(objects, gatewayReleaseOf(run), ingressHostOf(run), options);
    const present = objects.filter((o) => !(options.withoutPods ?? []).includes(o.metadata.name));
    return {
        name,
        description,
        kind: "stage",
        ...state,
        cookies: COOKIES,
        expect: stageExpectations(stage, weight, present, state, [api]),
        expectFailure: false,
    };
}

interface Base {
    api: TrafficApi;
    run: ProgramRun;
    stage: StageName;
    weight: number;
    name: string;
}

function control(
    base: Base,
    what: string,
    removed: string,
    detectedAs: string,
    edit: (objects: KubernetesObject[]) => KubernetesObject[],
    options: StateOptions = {},
): RouteCase {
    const objects = edit(caseObjectsOf(base.run));
    const c = stageCase(
        `${APIS[base.api].prefix}control/${what}`,
        `${base.name} with ${removed}: the checker must report a problem (${detectedAs})`,
        base.api,
        base.run,
        base.stage,
        base.weight,
        objects,
        options,
    );
    // The expectations stay the base case's: what is removed must show up as a violation of them.
    const baseExpect = stageCase(base.name, "", base.api, base.run, base.stage, base.weight).expect;
    c.expect.storageClients = baseExpect.storageClients;
    if (baseExpect.authorization) c.expect.authorization = baseExpect.authorization;
    return { ...c, kind: "control", control: { basedOn: base.name, removed, detectedAs }, expectFailure: true };
}

/** Removes the case files an earlier run left in outDir (only *.json under the case directories). */
function clearCases(outDir: string) {
    const walk = (dir: string) => {
        if (!fs.existsSync(dir)) return;
        for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
            const p = path.join(dir, entry.name);
            if (entry.isDirectory()) {
                walk(p);
                if (fs.readdirSync(p).length === 0) fs.rmdirSync(p);
            } else if (entry.name.endsWith(".json")) {
                fs.unlinkSync(p);
            }
        }
    };
    for (const sub of ["stage", "canary", "transition", "control", "gateway-api", "api-switch"])
        walk(path.join(outDir, sub));
}

const isNot = (kind: string, name: string) => (o: KubernetesObject) => !(o.kind === kind && o.metadata.name === name);
/** Replaces the objects of one kind and name (of either API: `gatewayApi` picks Gateway API's). */
const editing =
    (kind: string, name: string, change: (o: KubernetesObject) => KubernetesObject) => (objects: KubernetesObject[]) =>
        objects.map((o) => (o.kind === kind && o.metadata.name === name ? change(o) : o));

/** Istio's API: the control cases (names unchanged since they were the only ones). */
function istioControls(b: Record<"canary" | "canary30" | "finalize" | "deploy", Base>): RouteCase[] {
    const { canary, canary30, finalize, deploy } = b;
    return [
        control(
            canary,
            "canary-without-destinationrule-voting-app-v2-0",
            "DestinationRule voting-app-v2-0 removed (a route to an undefined subset)",
            "undefined-cluster",
            (objects) => objects.filter(isNot("DestinationRule", "voting-app-v2-0")),
        ),
        control(
            canary30,
            "canary30-without-destinationrule-voting-app-v2-0",
            "DestinationRule voting-app-v2-0 removed (a weighted route to an undefined subset)",
            "undefined-cluster",
            (objects) => objects.filter(isNot("DestinationRule", "voting-app-v2-0")),
        ),
        control(
            canary30,
            "canary30-without-sticky-route-v2-0",
            "the sticky-v2-0 route removed from VirtualService voting-app (users the weight sent to 2.0 are picked again)",
            "users",
            editing("VirtualService", "voting-app", (o) => ({
                ...o,
                spec: { ...o.spec, http: o.spec.http.filter((r: any) => r.name !== "sticky-v2-0") },
            })),
        ),
        control(
            canary30,
            "canary30-without-set-cookie",
            "the Set-Cookie headers removed from the weighted route of VirtualService voting-app",
            "users",
            editing("VirtualService", "voting-app", (o) => ({
                ...o,
                spec: {
                    ...o.spec,
                    http: o.spec.http.map((r: any) => ({
                        ...r,
                        route: r.route.map(({ headers: _headers, ...d }: any) => d),
                    })),
                },
            })),
        ),
        control(
            canary,
            "canary-without-flag-route",
            "the feature-flag route removed from VirtualService voting-app",
            "users",
            editing("VirtualService", "voting-app", (o) => ({
                ...o,
                spec: { ...o.spec, http: o.spec.http.filter((r: any) => r.name !== "feature-flag") },
            })),
        ),
        control(
            finalize,
            "finalize-without-storage-2-0-pod",
            "the pod of Deployment voting-storage-2-0 removed (a subset with no pods)",
            "no-endpoints",
            (objects) => objects,
            { withoutPods: ["voting-storage-2-0"] },
        ),
        control(
            canary,
            "canary-without-storage-route-v1-0",
            "the TCP route to subset v1-0 removed from VirtualService voting-storage",
            "call-backend",
            editing("VirtualService", "voting-storage", (o) => ({
                ...o,
                spec: {
                    ...o.spec,
                    tcp: o.spec.tcp.filter((r: any) => !r.route.some((d: any) => d.destination.subset === "v1-0")),
                },
            })),
        ),
        control(
            canary,
            "canary-storage-numeric-target-ports",
            "the storage Service's named target ports (each port then reaches both engines)",
            "storage",
            numericStoragePorts,
        ),
        control(
            canary,
            "canary-without-analytics-route-to-v2-0",
            "the HTTP route to-v2-0 (app 2.0 -> analytics 2.0) removed from VirtualService voting-analytics",
            "users",
            editing("VirtualService", "voting-analytics", (o) => ({
                ...o,
                spec: { ...o.spec, http: o.spec.http.filter((r: any) => r.name !== "to-v2-0") },
            })),
        ),
        control(deploy, "deploy-without-gateway", `Gateway ${APP_GATEWAY_NAME} removed`, "no-match", (objects) =>
            objects.filter((o) => o.kind !== "Gateway"),
        ),
    ];
}

const numericStoragePorts = editing("Service", "voting-storage", (o) => ({
    ...o,
    spec: { ...o.spec, ports: o.spec.ports.map((p: any) => ({ ...p, targetPort: p.port })) },
}));

/** A per-version Service that selects only `app`: its cluster reaches every version of the component. */
const selectingAppOnly = (name: string) =>
    editing("Service", name, (o) => ({
        ...o,
        spec: { ...o.spec, selector: { app: o.spec.selector.app } },
    }));

/** Gateway API's control cases: the analogues of Istio's, and what only Gateway API has. */
function gatewayApiControls(b: Record<"canary" | "canary30" | "finalize" | "deploy", Base>): RouteCase[] {
    const { canary, canary30, finalize, deploy } = b;
    const rules = (
        name: string,
        change: (rules: any[]) => any[],
    ): ((objects: KubernetesObject[]) => KubernetesObject[]) =>
        editing("HTTPRoute", name, (o) => ({ ...o, spec: { ...o.spec, rules: change(o.spec.rules) } }));
    return [
        control(
            canary,
            "canary-without-service-voting-app-v2-0",
            "Service voting-app-v2-0 removed (HTTPRoute voting-app's backendRef names a Service that does not exist)",
            "undefined-cluster",
            (objects) => objects.filter(isNot("Service", "voting-app-v2-0")),
        ),
        control(
            canary30,
            "canary30-without-service-voting-app-v2-0",
            "Service voting-app-v2-0 removed (a weighted backendRef to a Service that does not exist)",
            "undefined-cluster",
            (objects) => objects.filter(isNot("Service", "voting-app-v2-0")),
        ),
        control(
            canary30,
            "canary30-without-sticky-rule-v2-0",
            "the sticky-v2-0 rule removed from HTTPRoute voting-app (users the weight sent to 2.0 are picked again)",
            "users",
            rules("voting-app", (r) => r.filter((rule) => rule.name !== "sticky-v2-0")),
        ),
        control(
            canary30,
            "canary30-without-set-cookie-filter",
            "the ResponseHeaderModifier filters (Set-Cookie) removed from the weighted rule of HTTPRoute voting-app",
            "users",
            rules("voting-app", (r) =>
                r.map((rule) => ({
                    ...rule,
                    backendRefs: rule.backendRefs.map(({ filters: _filters, ...ref }: any) => ref),
                })),
            ),
        ),
        control(
            canary,
            "canary-without-flag-rule",
            "the feature-flag rule removed from HTTPRoute voting-app",
            "users",
            rules("voting-app", (r) => r.filter((rule) => rule.name !== "feature-flag")),
        ),
        control(
            finalize,
            "finalize-without-storage-2-0-pod",
            "the pod of Deployment voting-storage-2-0 removed (the MySQL port with no pods)",
            "storage",
            (objects) => objects,
            { withoutPods: ["voting-storage-2-0"] },
        ),
        control(
            canary,
            "canary-storage-numeric-target-ports",
            "the storage Service's named target ports (with no storage route, each port then reaches both engines)",
            "storage",
            numericStoragePorts,
        ),
        control(
            canary,
            "canary-without-analytics-rule-to-v2-0",
            "the rule to-v2-0 (app 2.0 -> analytics 2.0) removed from HTTPRoute voting-analytics",
            "users",
            rules("voting-analytics", (r) => r.filter((rule) => rule.name !== "to-v2-0")),
        ),
        control(
            canary,
            "canary-analytics-rules-without-header-match",
            "the x-voting-app-version header matches removed from HTTPRoute voting-analytics (every app version takes its first rule)",
            "call-backend",
            rules("voting-analytics", (r) => r.map(({ matches: _matches, ...rule }) => rule)),
        ),
        control(
            canary,
            "canary-service-voting-analytics-v2-0-selecting-app-only",
            "the version from the selector of Service voting-analytics-v2-0 (the route's cluster is right, its pods are every analytics version)",
            "call-backend",
            selectingAppOnly("voting-analytics-v2-0"),
        ),
        control(
            canary,
            "canary-gateway-without-addresses",
            `the addresses of Gateway ${APP_GATEWAY_NAME} (it is then Istio's automated deployment, not bound to the installed ingress gateway)`,
            "no-match",
            (objects) =>
                objects.map((o) =>
                    isGatewayApi(o) && o.kind === "Gateway" ? { ...o, spec: { ...o.spec, addresses: undefined } } : o,
                ),
        ),
        control(
            canary,
            "canary-gateway-in-the-app-namespace",
            `Gateway ${APP_GATEWAY_NAME} in the app's namespace, its routes following it (Istio binds a Hostname address only to a Service in the Gateway's own namespace)`,
            "no-match",
            (objects) =>
                objects.map((o) => {
                    if (isGatewayApi(o) && o.kind === "Gateway")
                        return { ...o, metadata: { ...o.metadata, namespace: APP_NAMESPACE } };
                    if (isGatewayApi(o) && o.kind === "HTTPRoute")
                        return {
                            ...o,
                            spec: {
                                ...o.spec,
                                parentRefs: o.spec.parentRefs.map((ref: Record<string, unknown>) =>
                                    ref.kind === "Service" ? ref : { ...ref, namespace: APP_NAMESPACE },
                                ),
                            },
                        };
                    return o;
                }),
        ),
        control(deploy, "deploy-without-gateway", `Gateway ${APP_GATEWAY_NAME} removed`, "no-match", (objects) =>
            objects.filter((o) => o.kind !== "Gateway"),
        ),
    ];
}

async function main(outDir: string) {
    const t0 = Date.now();
    const cases: RouteCase[] = [];
    // Runs by API and stage: "istio:canary", "gateway-api:canary(30)".
    const runs = new Map<string, ProgramRun>();
    for (const api of TRAFFIC_APIS) {
        const { config } = APIS[api];
        for (const stage of STAGE_NAMES) runs.set(`${api}:${stage}`, await runStage(stage, config));
        for (const weight of WEIGHTS)
            runs.set(`${api}:canary(${weight})`, await runStage("canary", { ...config, canaryWeight: String(weight) }));
    }
    const run = (api: TrafficApi, key: string) => {
        const found = runs.get(`${api}:${key}`);
        if (!found) throw new Error(`route-cases: no run ${api}:${key}`);
        return found;
    };
    const defaultWeight = (api: TrafficApi, s: StageName) =>
        s === "canary" ? Number(run(api, "canary").outputs.canaryWeight ?? 0) : 0;
    /** The calls a run's stage makes ("canary(30)": the canary at weight 30). */
    const callsOf = (api: TrafficApi, key: string) => {
        const [, stage, weight] = /^(\w+)(?:\((\d+)\))?$/.exec(key)!;
        const w = weight !== undefined ? Number(weight) : defaultWeight(api, stage as StageName);
        return allowedCalls(planStage(stage as StageName, { canaryWeight: w }));
    };
    const same = (a: ProgramRun, b: ProgramRun) =>
        JSON.stringify(caseObjectsOf(a)) === JSON.stringify(caseObjectsOf(b));
    // States with the same objects and expectations (other orders of the same steps, or a state two
    // transitions share) are one case, which names the others.
    const byContent = new Map<string, RouteCase>();
    const addState = (c: RouteCase, key: string) => {
        const existing = byContent.get(key);
        if (existing) {
            existing.alsoCovers!.push(c.name);
            return;
        }
        byContent.set(key, c);
        cases.push(c);
    };
    const counts = { transitionStates: 0, transitions: 0, switchStates: 0, switches: 0 };

    for (const api of TRAFFIC_APIS) {
        const { prefix } = APIS[api];
        for (const stage of STAGE_NAMES) {
            cases.push(
                stageCase(
                    `${prefix}stage/${stage}`,
                    `stage ${stage} with the default settings (traffic.api ${api})`.replace(" (traffic.api istio)", ""),
                    api,
                    run(api, stage),
                    stage,
                    defaultWeight(api, stage),
                ),
            );
        }
        for (const weight of WEIGHTS) {
            const r = run(api, `canary(${weight})`);
            const alias =
                weight === defaultWeight(api, "canary") && same(r, run(api, "canary"))
                    ? ` (the default weight: the same objects as ${prefix}stage/canary)`
                    : "";
            const apiNote = api === "istio" ? "" : ` (traffic.api ${api})`;
            cases.push(
                stageCase(
                    `${prefix}canary/weight-${weight}`,
                    `stage canary with canaryWeight ${weight}${apiNote}${alias}`,
                    api,
                    r,
                    "canary",
                    weight,
                ),
            );
        }
    }

    // Every state of every `pulumi up` between adjacent stages, both ways; also with the weighted canary.
    const pairs: [string, string][] = STAGE_NAMES.slice(1).map((to, i) => [STAGE_NAMES[i], to]);
    const weighted: [string, string][] = [
        ["lockdown", "canary(30)"],
        ["canary(30)", "finalize"],
    ];
    const transitions = [...pairs, ...weighted].flatMap(
        ([a, b]) =>
            [
                [a, b],
                [b, a],
            ] as [string, string][],
    );
    const crossingBases = new Map<TrafficApi, { name: string; objects: KubernetesObject[]; run: ProgramRun }>();
    for (const api of TRAFFIC_APIS) {
        const { prefix } = APIS[api];
        for (const [from, to] of transitions) {
            const [fromRun, toRun] = [run(api, from), run(api, to)];
            counts.transitions++;
            const states = intermediateStates(fromRun, toRun, routingStep, authorizationStep);
            const [fromCalls, toCalls] = [callsOf(api, from), callsOf(api, to)];
            states.forEach((state, i) => {
                // The app namespace's objects and Gateway API's, as for a stage (a state holds every Kubernetes object of the stack).
                const objects = caseObjects(state.objects);
                if (
                    from === "lockdown" &&
                    to === "canary" &&
                    state.description === "after every create/update, then []"
                ) {
                    crossingBases.set(api, {
                        name: `${prefix}transition/${from}->${to} ${state.description}`,
                        objects,
                        run: toRun,
                    });
                }
                const built = buildState(objects, gatewayReleaseOf(toRun), ingressHostOf(toRun));
                const name = `${prefix}transition/${from}->${to}/${String(i).padStart(2, "0")}`;
                // The calls both stages make are never interrupted; none outside either stage's is allowed.
                const authorization = expectedAuthorization(
                    objects,
                    built,
                    fromCalls.filter((c) => toCalls.some((d) => sameCall(c, d))),
                    [...fromCalls, ...toCalls],
                );
                const expect = {
                    storageClients: storageClientsOf(objects),
                    chainsDoNotCross: true,
                    ...(authorization ? { authorization } : {}),
                };
                counts.transitionStates++;
                addState(
                    {
                        name,
                        description: `${from} -> ${to}, ${state.description}${api === "istio" ? "" : ` (traffic.api ${api})`}`,
                        kind: "transition",
                        ...built,
                        // The sticky canary's cookies too: every state must serve them, chains uncrossed.
                        cookies: { ...COOKIES, withoutFlag: [...COOKIES.withoutFlag, ...STICKY_COOKIES] },
                        expect,
                        expectFailure: false,
                        alsoCovers: [],
                    },
                    JSON.stringify([built, expect]),
                );
            });
        }
    }

    // Switching traffic.api at each stage (and the weighted canary), both ways: every state.
    const switchStages: [string, StageName, number][] = [
        ...STAGE_NAMES.map((s): [string, StageName, number] => [s, s, defaultWeight("istio", s)]),
        ["canary(30)", "canary", 30],
    ];
    for (const [key, stage, weight] of switchStages) {
        for (const [from, to] of [
            ["istio", "gateway-api"],
            ["gateway-api", "istio"],
        ] as [TrafficApi, TrafficApi][]) {
            const [fromRun, toRun] = [run(from, key), run(to, key)];
            counts.switches++;
            intermediateStates(fromRun, toRun, routingStep, authorizationStep).forEach((state, i) => {
                const objects = caseObjects(state.objects);
                const built = buildState(objects, gatewayReleaseOf(toRun), ingressHostOf(toRun));
                const expect = {
                    ...stageExpectations(stage, weight, objects, built, [from, to]),
                    chainsDoNotCross: true,
                };
                counts.switchStates++;
                addState(
                    {
                        name: `api-switch/${key}/${from}->${to}/${String(i).padStart(2, "0")}`,
                        description: `traffic.api ${from} -> ${to} at stage ${key}, ${state.description}`,
                        kind: "api-switch",
                        ...built,
                        cookies: COOKIES,
                        expect,
                        expectFailure: false,
                        alsoCovers: [],
                    },
                    JSON.stringify([built, expect]),
                );
            });
        }
    }

    // Controls: a real case with one thing removed or broken.
    for (const api of TRAFFIC_APIS) {
        const { prefix } = APIS[api];
        const base = (key: string, stage: StageName, weight: number, name: string): Base => ({
            api,
            run: run(api, key),
            stage,
            weight,
            name: `${prefix}${name}`,
        });
        const bases = {
            canary: base("canary", "canary", defaultWeight(api, "canary"), "stage/canary"),
            canary30: base("canary(30)", "canary", 30, "canary/weight-30"),
            finalize: base("finalize", "finalize", 0, "stage/finalize"),
            deploy: base("deploy", "deploy", 0, "stage/deploy"),
        };
        cases.push(...(api === "istio" ? istioControls(bases) : gatewayApiControls(bases)));
    }

    // The mid-transition check (chains never mix 1.x and 2.0) must catch a crossing, with either API.
    const crossings: Record<
        TrafficApi,
        { removed: string; edit: (objects: KubernetesObject[]) => KubernetesObject[] }
    > = {
        istio: {
            removed: "the HTTP route to-v1-1 (app 1.0 -> analytics 1.1) removed from VirtualService voting-analytics",
            edit: editing("VirtualService", "voting-analytics", (o) => ({
                ...o,
                spec: { ...o.spec, http: o.spec.http.filter((r: any) => r.name !== "to-v1-1") },
            })),
        },
        "gateway-api": {
            removed:
                "the version from the selector of Service voting-analytics-v1-1 (app 1.0's route reaches every analytics version)",
            edit: selectingAppOnly("voting-analytics-v1-1"),
        },
    };
    for (const api of TRAFFIC_APIS) {
        const crossingBase = crossingBases.get(api);
        if (!crossingBase)
            throw new Error(`route-cases: no state 'after every create/update' of lockdown -> canary (${api})`);
        const objects = crossings[api].edit(crossingBase.objects);
        const { removed } = crossings[api];
        const what =
            api === "istio"
                ? "transition-lockdown-canary-without-analytics-route-to-v1-1"
                : "transition-lockdown-canary-service-voting-analytics-v1-1-selecting-app-only";
        cases.push({
            name: `${APIS[api].prefix}control/${what}`,
            description: `${crossingBase.name} with ${removed}`,
            kind: "control",
            ...buildState(objects, gatewayReleaseOf(crossingBase.run), ingressHostOf(crossingBase.run)),
            cookies: COOKIES,
            expect: { storageClients: storageClientsOf(objects), chainsDoNotCross: true },
            control: { basedOn: crossingBase.name, removed, detectedAs: "crossing" },
            expectFailure: true,
        });
    }

    // Least privilege: the checker must catch a call of the stage refused, a call outside it let
    // through, and a client started before its allow (the make-before-break order of the policies).
    for (const api of TRAFFIC_APIS) {
        const { prefix } = APIS[api];
        const canary: Base = {
            api,
            run: run(api, "canary"),
            stage: "canary",
            weight: defaultWeight(api, "canary"),
            name: `${prefix}stage/canary`,
        };
        const policy = "AuthorizationPolicy";
        cases.push(
            control(
                canary,
                "canary-without-allow-voting-app-2-0-to-voting-storage-2-0",
                `${policy} voting-app-2-0-to-voting-storage-2-0 removed (app 2.0 cannot reach MySQL)`,
                "denied",
                (objects) => objects.filter(isNot(policy, "voting-app-2-0-to-voting-storage-2-0")),
            ),
            control(
                canary,
                "canary-without-allow-nothing",
                `${policy} allow-nothing removed (no deny by default: analytics 1.0, which no route calls, takes any call)`,
                "allowed",
                (objects) => objects.filter(isNot(policy, "allow-nothing")),
            ),
            control(
                canary,
                "canary-allow-to-redis-from-the-whole-namespace",
                `${policy} voting-app-1-0-to-voting-storage-1-0 widened to every identity of the namespace (app 2.0 reaches Redis)`,
                "allowed",
                editing(policy, "voting-app-1-0-to-voting-storage-1-0", (o) => ({
                    ...o,
                    spec: {
                        ...o.spec,
                        rules: [{ ...o.spec.rules[0], from: [{ source: { namespaces: [APP_NAMESPACE] } }] }],
                    },
                })),
            ),
        );
        // deploy -> update with analytics 1.1's Deployment not waiting for the allow of app 1.0's calls
        // to it: the Service's round robin sends them there before the policy exists.
        const [fromRun, goodRun] = [run(api, "deploy"), run(api, "update")];
        const allowUrn = goodRun.resources.find((r) =>
            r.urn.endsWith("::voting-app-1-0-to-voting-analytics-1-1-authorizationpolicy"),
        )?.urn;
        if (!allowUrn) throw new Error(`route-cases: no allow of app 1.0's calls to analytics 1.1 (${api})`);
        const unordered: ProgramRun = {
            ...goodRun,
            resources: goodRun.resources.map((r) =>
                r.urn.endsWith("::voting-analytics-1-1") && r.type === "kubernetes:apps/v1:Deployment"
                    ? { ...r, dependencies: r.dependencies.filter((d) => d !== allowUrn) }
                    : r,
            ),
        };
        const early = intermediateStates(fromRun, unordered, routingStep, authorizationStep).find(
            (st) =>
                st.objects.some((o) => o.kind === "Deployment" && o.metadata.name === "voting-analytics-1-1") &&
                !st.objects.some(
                    (o) => o.kind === policy && o.metadata.name === "voting-app-1-0-to-voting-analytics-1-1",
                ),
        );
        if (!early)
            throw new Error(`route-cases: the unordered deploy -> update has no state before the allow (${api})`);
        const objects = caseObjects(early.objects);
        const built = buildState(objects, gatewayReleaseOf(goodRun), ingressHostOf(goodRun));
        const [fromCalls, toCalls] = [callsOf(api, "deploy"), callsOf(api, "update")];
        cases.push({
            name: `${prefix}control/transition-deploy-update-analytics-1-1-before-its-allow`,
            description: `deploy -> update, ${early.description}, with Deployment voting-analytics-1-1 not depending on ${policy} voting-app-1-0-to-voting-analytics-1-1`,
            kind: "control",
            ...built,
            cookies: COOKIES,
            expect: {
                storageClients: storageClientsOf(objects),
                chainsDoNotCross: true,
                authorization: expectedAuthorization(
                    objects,
                    built,
                    fromCalls.filter((c) => toCalls.some((d) => sameCall(c, d))),
                    [...fromCalls, ...toCalls],
                ),
            },
            control: {
                basedOn: `${prefix}transition/deploy->update`,
                removed: `the dependency of Deployment voting-analytics-1-1 on ${policy} voting-app-1-0-to-voting-analytics-1-1`,
                detectedAs: "denied",
            },
            expectFailure: true,
        });
    }

    clearCases(outDir);
    for (const c of cases) {
        const file = path.join(outDir, `${c.name.replace(/->/g, "-to-").replace(/[()]/g, "")}.json`);
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, `${JSON.stringify(c, null, 1)}\n`);
    }
    const count = (kind: string, api?: TrafficApi) =>
        cases.filter(
            (c) =>
                c.kind === kind &&
                (api === undefined || (api === "gateway-api") === c.name.startsWith(APIS["gateway-api"].prefix)),
        ).length;
    const perApi = (api: TrafficApi) =>
        `${api}: ${count("stage", api)} stage, ${count("transition", api)} transition states, ${count("control", api)} controls`;
    process.stderr.write(
        `route-cases: ${cases.length} cases in ${outDir}: ${TRAFFIC_APIS.map(perApi).join("; ")} ` +
            `(${count("transition")} distinct states of the ${counts.transitionStates} that ${counts.transitions} transitions pass through); ` +
            `${count("api-switch")} distinct states of the ${counts.switchStates} that ${counts.switches} switches of traffic.api pass through ` +
            `(${((Date.now() - t0) / 1000).toFixed(1)}s)\n`,
    );
}

if (require.main === module) {
    const outDir = process.argv[2];
    if (!outDir) {
        process.stderr.write("usage: node -r ts-node/register/transpile-only rig/route-cases.ts <outdir>\n");
        process.exit(2);
    }
    main(path.resolve(outDir)).then(
        () => process.exit(0),
        (err) => {
            process.stderr.write(`route-cases: ${(err as Error).stack ?? err}\n`);
            process.exit(1);
        },
    );
}
