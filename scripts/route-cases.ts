/**
 * `node -r ts-node/register/transpile-only scripts/route-cases.ts <outdir>`
 *
 * Writes the cases that tools/istio/routes (a Go test running Istio's own config generator) reads:
 * one JSON file per case (format: test/support/routeCases.ts, RouteCase), named after the case.
 *   stage/<stage>                    every stage at the default settings, with the brief's routes
 *   canary/weight-<N>                the canary stage at canaryWeight 0, 30 and 100
 *   transition/<from>-><to>/<NN>     every state a `pulumi up` between adjacent stages passes
 *                                    through, both ways (test/support/transitions.ts), also with
 *                                    the weighted canary (canaryWeight 30); states with the same
 *                                    objects are one case (`alsoCovers` names the others). Checked
 *                                    for the invariant (every request and every storage client
 *                                    served, no route to an undefined or empty cluster) and, as
 *                                    test/transitions.test.ts does, that no chain mixes 1.x and 2.0
 *   control/<what>                   a real case with one thing removed: the checker must report
 *                                    a problem of the kind the case names
 * Objects come from the real program under Pulumi's mocks (mock/runProgram.ts), as `pulumi up`
 * registers them; expectations from test/support/expected.ts and stages/model.ts.
 *
 *   ROUTE_CASES=/tmp/cases bash scripts/istio-tools.sh test   runs the Go test on them
 */
import * as fs from "fs";
import * as path from "path";
import { KubernetesObject, ProgramRun, appObjects, inNamespace } from "../mock/runProgram";
import { STAGE_NAMES, StageName } from "../stages/model";
import { APP_GATEWAY_NAME } from "../stages/names";
import { expectedSticky, STICKY_COOKIES } from "../test/support/expected";
import { runStage } from "../test/support/runs";
import { intermediateStates, ROUTING_KINDS } from "../test/support/transitions";
import {
    COOKIES,
    RouteCase,
    StateOptions,
    buildState,
    expectedCalls,
    expectedUsers,
    gatewayReleaseOf,
    ingressHostOf,
    storageClientsOf,
} from "../test/support/routeCases";

const WEIGHTS = [0, 30, 100];

function stageCase(
    name: string,
    description: string,
    run: ProgramRun,
    stage: StageName,
    weight: number,
    objects = appObjects(run),
    options: StateOptions = {},
): RouteCase {
    const state = buildState(objects, gatewayReleaseOf(run), ingressHostOf(run), options);
    return {
        name,
        description,
        kind: "stage",
        ...state,
        cookies: COOKIES,
        expect: {
            users: expectedUsers(stage, weight),
            storageClients: storageClientsOf(
                objects.filter((o) => !(options.withoutPods ?? []).includes(o.metadata.name)),
            ),
            calls: expectedCalls(stage, state.workloads),
            sticky: STICKY_COOKIES.map((cookie) => {
                const { chains, setCookie } = expectedSticky(stage, weight, cookie);
                return { cookie, chains: chains.map(([c, share]) => ({ ...c, share })), setCookie };
            }),
        },
        expectFailure: false,
    };
}

function control(
    base: { run: ProgramRun; stage: StageName; weight: number; name: string },
    what: string,
    removed: string,
    detectedAs: string,
    edit: (objects: KubernetesObject[]) => KubernetesObject[],
    options: StateOptions = {},
): RouteCase {
    const objects = edit(appObjects(base.run));
    const c = stageCase(
        `control/${what}`,
        `${base.name} with ${removed}: the checker must report a problem (${detectedAs})`,
        base.run,
        base.stage,
        base.weight,
        objects,
        options,
    );
    // The expectations stay the base case's: what is removed must show up as a violation of them.
    c.expect.storageClients = stageCase(base.name, "", base.run, base.stage, base.weight).expect.storageClients;
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
    for (const sub of ["stage", "canary", "transition", "control"]) walk(path.join(outDir, sub));
}

const isNot = (kind: string, name: string) => (o: KubernetesObject) => !(o.kind === kind && o.metadata.name === name);

async function main(outDir: string) {
    const t0 = Date.now();
    const cases: RouteCase[] = [];
    const runs = new Map<string, ProgramRun>();
    for (const stage of STAGE_NAMES) runs.set(stage, await runStage(stage));
    for (const weight of WEIGHTS)
        runs.set(`canary(${weight})`, await runStage("canary", { canaryWeight: String(weight) }));
    const defaultWeight = (s: StageName) =>
        s === "canary" ? Number(runs.get("canary")!.outputs.canaryWeight ?? 0) : 0;

    for (const stage of STAGE_NAMES) {
        cases.push(
            stageCase(
                `stage/${stage}`,
                `stage ${stage} with the default settings`,
                runs.get(stage)!,
                stage,
                defaultWeight(stage),
            ),
        );
    }
    const same = (a: ProgramRun, b: ProgramRun) => JSON.stringify(appObjects(a)) === JSON.stringify(appObjects(b));
    for (const weight of WEIGHTS) {
        const run = runs.get(`canary(${weight})`)!;
        const alias =
            weight === defaultWeight("canary") && same(run, runs.get("canary")!)
                ? " (the default weight: the same objects as stage/canary)"
                : "";
        cases.push(
            stageCase(
                `canary/weight-${weight}`,
                `stage canary with canaryWeight ${weight}${alias}`,
                run,
                "canary",
                weight,
            ),
        );
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
    // States with the same objects (other orders of the same steps, or a state two transitions
    // share) are one case, which names the others.
    let transitionStates = 0;
    const byContent = new Map<string, RouteCase>();
    let crossingBase: { name: string; objects: KubernetesObject[]; run: ProgramRun } | undefined;
    for (const [from, to] of transitions) {
        const [fromRun, toRun] = [runs.get(from)!, runs.get(to)!];
        const states = intermediateStates(fromRun, toRun, (s) => ROUTING_KINDS.test(s.label));
        states.forEach((state, i) => {
            // The app namespace's objects, as for a stage (a state holds every Kubernetes object of the stack).
            const objects = inNamespace(state.objects);
            if (from === "lockdown" && to === "canary" && state.description === "after every create/update, then []") {
                crossingBase = { name: `transition/${from}->${to} ${state.description}`, objects, run: toRun };
            }
            const built = buildState(objects, gatewayReleaseOf(toRun), ingressHostOf(toRun));
            const name = `transition/${from}->${to}/${String(i).padStart(2, "0")}`;
            const expect = { storageClients: storageClientsOf(objects), chainsDoNotCross: true };
            transitionStates++;
            const key = JSON.stringify([built, expect]);
            const existing = byContent.get(key);
            if (existing) {
                existing.alsoCovers!.push(name);
                return;
            }
            const c: RouteCase = {
                name,
                description: `${from} -> ${to}, ${state.description}`,
                kind: "transition",
                ...built,
                // The sticky canary's cookies too: every state must serve them, chains uncrossed.
                cookies: { ...COOKIES, withoutFlag: [...COOKIES.withoutFlag, ...STICKY_COOKIES] },
                expect,
                expectFailure: false,
                alsoCovers: [],
            };
            byContent.set(key, c);
            cases.push(c);
        });
    }

    // Controls: a real case with one thing removed.
    const canary = {
        run: runs.get("canary")!,
        stage: "canary" as StageName,
        weight: defaultWeight("canary"),
        name: "stage/canary",
    };
    const canary30 = {
        run: runs.get("canary(30)")!,
        stage: "canary" as StageName,
        weight: 30,
        name: "canary/weight-30",
    };
    const finalize = { run: runs.get("finalize")!, stage: "finalize" as StageName, weight: 0, name: "stage/finalize" };
    const deploy = { run: runs.get("deploy")!, stage: "deploy" as StageName, weight: 0, name: "stage/deploy" };
    cases.push(
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
            (objects) =>
                objects.map((o) =>
                    o.kind === "VirtualService" && o.metadata.name === "voting-app"
                        ? { ...o, spec: { ...o.spec, http: o.spec.http.filter((r: any) => r.name !== "sticky-v2-0") } }
                        : o,
                ),
        ),
        control(
            canary30,
            "canary30-without-set-cookie",
            "the Set-Cookie headers removed from the weighted route of VirtualService voting-app",
            "users",
            (objects) =>
                objects.map((o) =>
                    o.kind === "VirtualService" && o.metadata.name === "voting-app"
                        ? {
                              ...o,
                              spec: {
                                  ...o.spec,
                                  http: o.spec.http.map((r: any) => ({
                                      ...r,
                                      route: r.route.map(({ headers: _headers, ...d }: any) => d),
                                  })),
                              },
                          }
                        : o,
                ),
        ),
        control(
            canary,
            "canary-without-flag-route",
            "the feature-flag route removed from VirtualService voting-app",
            "users",
            (objects) =>
                objects.map((o) =>
                    o.kind === "VirtualService" && o.metadata.name === "voting-app"
                        ? { ...o, spec: { ...o.spec, http: o.spec.http.filter((r: any) => r.name !== "feature-flag") } }
                        : o,
                ),
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
            "call-subset",
            (objects) =>
                objects.map((o) =>
                    o.kind === "VirtualService" && o.metadata.name === "voting-storage"
                        ? {
                              ...o,
                              spec: {
                                  ...o.spec,
                                  tcp: o.spec.tcp.filter(
                                      (r: any) => !r.route.some((d: any) => d.destination.subset === "v1-0"),
                                  ),
                              },
                          }
                        : o,
                ),
        ),
        control(
            canary,
            "canary-storage-numeric-target-ports",
            "the storage Service's named target ports (each port then reaches both engines)",
            "storage",
            (objects) =>
                objects.map((o) =>
                    o.kind === "Service" && o.metadata.name === "voting-storage"
                        ? {
                              ...o,
                              spec: { ...o.spec, ports: o.spec.ports.map((p: any) => ({ ...p, targetPort: p.port })) },
                          }
                        : o,
                ),
        ),
        control(
            canary,
            "canary-without-analytics-route-to-v2-0",
            "the HTTP route to-v2-0 (app 2.0 -> analytics 2.0) removed from VirtualService voting-analytics",
            "users",
            (objects) =>
                objects.map((o) =>
                    o.kind === "VirtualService" && o.metadata.name === "voting-analytics"
                        ? { ...o, spec: { ...o.spec, http: o.spec.http.filter((r: any) => r.name !== "to-v2-0") } }
                        : o,
                ),
        ),
        control(deploy, "deploy-without-gateway", `Gateway ${APP_GATEWAY_NAME} removed`, "no-match", (objects) =>
            objects.filter((o) => o.kind !== "Gateway"),
        ),
    );

    // The mid-transition check (chains never mix 1.x and 2.0) must catch a crossing.
    if (!crossingBase) throw new Error("route-cases: no state 'after every create/update' of lockdown -> canary");
    {
        const objects = crossingBase.objects.map((o) =>
            o.kind === "VirtualService" && o.metadata.name === "voting-analytics"
                ? { ...o, spec: { ...o.spec, http: o.spec.http.filter((r: any) => r.name !== "to-v1-1") } }
                : o,
        );
        const removed =
            "the HTTP route to-v1-1 (app 1.0 -> analytics 1.1) removed from VirtualService voting-analytics";
        cases.push({
            name: "control/transition-lockdown-canary-without-analytics-route-to-v1-1",
            description: `${crossingBase.name} with ${removed}`,
            kind: "control",
            ...buildState(objects, gatewayReleaseOf(crossingBase.run), ingressHostOf(crossingBase.run)),
            cookies: COOKIES,
            expect: { storageClients: storageClientsOf(objects), chainsDoNotCross: true },
            control: { basedOn: crossingBase.name, removed, detectedAs: "crossing" },
            expectFailure: true,
        });
    }

    clearCases(outDir);
    for (const c of cases) {
        const file = path.join(outDir, `${c.name.replace(/->/g, "-to-").replace(/[()]/g, "")}.json`);
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, `${JSON.stringify(c, null, 1)}\n`);
    }
    const count = (kind: string) => cases.filter((c) => c.kind === kind).length;
    process.stderr.write(
        `route-cases: ${cases.length} cases in ${outDir}: ${count("stage")} stage, ${count("transition")} distinct states of the ` +
            `${transitionStates} that ${transitions.length} transitions pass through, ${count("control")} controls ` +
            `(${((Date.now() - t0) / 1000).toFixed(1)}s)\n`,
    );
}

if (require.main === module) {
    const outDir = process.argv[2];
    if (!outDir) {
        process.stderr.write("usage: node -r ts-node/register/transpile-only scripts/route-cases.ts <outdir>\n");
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
