/**
 * `plan`: the traffic summary a pull request shows for a stage change. Each case is held to its
 * expected Markdown (test/fixtures/plans/, reviewed by hand), and, independently of that text, to
 * the brief's transitions (FORWARD), the model's change order and the warning rules.
 */
import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import { planSide, trafficSummary } from "../cmd/plan";
import { changeOrder, STAGE_NAMES } from "../stages/model";
import { TRAFFIC_APIS, TrafficApi } from "../stages/traffic/router";
import { EXPECTED, forwardIn, inTrafficApi } from "./support/expected";
import { runCommand } from "./support/commands";
import { apiConfig, run } from "./support/runs";

const FIXTURES = path.join(__dirname, "fixtures", "plans");

interface Case {
    file: string;
    from: string;
    to: string;
    fromWeight?: string;
    toWeight?: string;
    /** The traffic API of each side (istio when not given). */
    fromApi?: TrafficApi;
    toApi?: TrafficApi;
}

const pairs = STAGE_NAMES.slice(1).map((to, i) => [STAGE_NAMES[i], to] as const);
const CASES: Case[] = [
    ...pairs.flatMap(([a, b]) => [
        { file: `${a}-to-${b}.md`, from: a, to: b },
        { file: `${b}-to-${a}.md`, from: b, to: a },
    ]),
    { file: "lockdown-to-canary-weight-30.md", from: "lockdown", to: "canary", toWeight: "30" },
    { file: "lockdown-to-canary-weight-100.md", from: "lockdown", to: "canary", toWeight: "100" },
    { file: "canary-weight-30-to-100.md", from: "canary", fromWeight: "30", to: "canary", toWeight: "100" },
    { file: "deploy-to-canary-skips.md", from: "deploy", to: "canary", toWeight: "30" },
    // traffic.api=gateway-api, and switches of traffic API at one stage (and one that changes the stage too).
    {
        file: "gateway-api-lockdown-to-canary-weight-30.md",
        from: "lockdown",
        to: "canary",
        toWeight: "30",
        fromApi: "gateway-api",
        toApi: "gateway-api",
    },
    {
        file: "canary-weight-30-istio-to-gateway-api.md",
        from: "canary",
        fromWeight: "30",
        to: "canary",
        toWeight: "30",
        toApi: "gateway-api",
    },
    {
        file: "canary-weight-30-gateway-api-to-istio.md",
        from: "canary",
        fromWeight: "30",
        to: "canary",
        toWeight: "30",
        fromApi: "gateway-api",
    },
    { file: "lockdown-istio-to-canary-gateway-api.md", from: "lockdown", to: "canary", toApi: "gateway-api" },
];

const summaryOf = async (c: Case) =>
    trafficSummary(
        await planSide(c.from, c.fromWeight, apiConfig(c.fromApi ?? "istio"), run),
        await planSide(c.to, c.toWeight, apiConfig(c.toApi ?? "istio"), run),
    );

/** The command that prints a case (for the fixture's message). */
const commandOf = (c: Case) =>
    `npm run --silent plan -- --from ${c.from}${c.fromWeight ? ` --from-canary-weight ${c.fromWeight}` : ""} --to ${c.to}${c.toWeight ? ` --canary-weight ${c.toWeight}` : ""}` +
    `${c.fromApi ? ` --from-config traffic.api=${c.fromApi}` : ""}${c.toApi ? ` --to-config traffic.api=${c.toApi}` : ""}`;

/** The backticked names on the summary's "- created (N): ..." line (or updated, deleted). */
function listed(summary: string, title: "created" | "updated" | "deleted"): string[] {
    const line = summary.split("\n").find((l) => l.startsWith(`- ${title} (`));
    assert.ok(line, `no "${title}" line`);
    return [...line.matchAll(/`([^`]+)`/g)].map((m) => m[1]).sort();
}

/** The numbered order lines, as the names each step applies. */
function orderOf(summary: string): string[][] {
    return summary
        .split("\n")
        .filter((l) => /^\d+\. /.test(l))
        .map((l) => [...l.matchAll(/`([^`]+)`/g)].map((m) => m[1]));
}

describe("plan: the traffic summary of a stage change", () => {
    for (const c of CASES) {
        it(`${c.file.replace(/\.md$/, "")}: as expected`, async () => {
            const expected = fs.readFileSync(path.join(FIXTURES, c.file), "utf8");
            const actual = await summaryOf(c);
            if (actual !== expected) {
                const a = actual.split("\n");
                const e = expected.split("\n");
                const at = a.findIndex((line, i) => line !== e[i]);
                assert.fail(
                    `plan ${c.from} -> ${c.to} differs from test/fixtures/plans/${c.file} at line ${at + 1}:\n` +
                        `  expected: ${e[at]}\n  actual:   ${a[at]}\n` +
                        "If the change is intended, review the new text and write it with " +
                        `${commandOf(c)} > test/fixtures/plans/${c.file}`,
                );
            }
        });
    }

    for (const api of TRAFFIC_APIS)
        for (const [a, b] of pairs) {
            const forward = forwardIn(api, `${a}->${b}`);
            const onApi = { fromApi: api, toApi: api };
            it(`${a} -> ${b} and back: the objects listed are the brief's transition and its inverse${api === "istio" ? "" : ` (traffic.api=${api})`}`, async () => {
                const there = await summaryOf({ file: "", from: a, to: b, ...onApi });
                assert.deepEqual(listed(there, "created"), [...forward.create].sort());
                assert.deepEqual(listed(there, "updated"), [...forward.update].sort());
                assert.deepEqual(listed(there, "deleted"), [...forward.delete].sort());
                const back = await summaryOf({ file: "", from: b, to: a, ...onApi });
                assert.deepEqual(listed(back, "created"), [...forward.delete].sort());
                assert.deepEqual(listed(back, "deleted"), [...forward.create].sort());
            });
        }

    for (const api of TRAFFIC_APIS)
        it(`make before break: the ingress route moves last into an expanding stage, first into a contracting one; deletes come last${api === "istio" ? "" : ` (traffic.api=${api})`}`, async () => {
            const checked = { expand: 0, contract: 0, deletes: 0 };
            const [ingressRoute, innerRoute] =
                api === "istio"
                    ? ["VirtualService/voting-app", /^VirtualService\/voting-(analytics|storage)$/]
                    : ["HTTPRoute/voting-app", /^HTTPRoute\/voting-analytics$/];
            for (const [a, b] of [...pairs, ...pairs.map(([x, y]) => [y, x] as const)]) {
                const summary = await summaryOf({ file: "", from: a, to: b, fromApi: api, toApi: api });
                const order = orderOf(summary);
                const ingress = order.findIndex((step) => step.includes(ingressRoute));
                const innerRoutes = order.flatMap((step, i) => (step.some((n) => innerRoute.test(n)) ? [i] : []));
                const updated = listed(summary, "updated");
                if (updated.includes(ingressRoute) && innerRoutes.length > 0 && updated.length > 1) {
                    checked[changeOrder(b)]++;
                    if (changeOrder(b) === "expand")
                        assert.ok(
                            innerRoutes.every((i) => i < ingress),
                            `${a} -> ${b}: ${JSON.stringify(order)}`,
                        );
                    else
                        assert.ok(
                            innerRoutes.every((i) => i > ingress),
                            `${a} -> ${b}: ${JSON.stringify(order)}`,
                        );
                }
                const deleted = new Set(listed(summary, "deleted"));
                const firstDelete = order.findIndex((step) => step.some((n) => deleted.has(n)));
                if (firstDelete >= 0) checked.deletes++;
                if (firstDelete >= 0)
                    assert.ok(
                        order.slice(firstDelete).every((step) => step.every((n) => deleted.has(n))),
                        `${a} -> ${b}: a create or update after a delete: ${JSON.stringify(order)}`,
                    );
            }
            // Each rule above applied somewhere: lockdown -> canary expands, canary -> finalize contracts.
            assert.ok(checked.expand > 0 && checked.contract > 0 && checked.deletes > 0, JSON.stringify(checked));
        });

    it("warns when the step skips a stage, and only then", async () => {
        const skip = await summaryOf({ file: "", from: "update", to: "finalize" });
        assert.match(skip, /\*\*Warning:\*\* finalize is not next to update: this step skips lockdown, canary\./);
        const back = await summaryOf({ file: "", from: "finalize", to: "deploy" });
        assert.match(back, /this step skips update, lockdown, canary\./);
        for (const [a, b] of pairs) assert.doesNotMatch(await summaryOf({ file: "", from: a, to: b }), /Warning/);
        const same = await summaryOf({ file: "", from: "lockdown", to: "lockdown" });
        assert.match(same, /No change of stage or weight/);
        assert.doesNotMatch(same, /### Order/);
    });

    it("says which traffic API each side uses; a switch at one stage creates the new API's objects, deletes the old's (Gateway API's CRDs only forgotten), updates nothing, creates before it deletes", async () => {
        for (const stage of STAGE_NAMES)
            for (const [fromApi, toApi] of [
                ["istio", "gateway-api"],
                ["gateway-api", "istio"],
            ] as [TrafficApi, TrafficApi][]) {
                const summary = await summaryOf({ file: "", from: stage, to: stage, fromApi, toApi });
                const context = `${stage}: ${fromApi} -> ${toApi}`;
                assert.match(
                    summary,
                    new RegExp(`^\\| traffic API \\| \`${fromApi}\` \\| \`${toApi}\` \\|$`, "m"),
                    context,
                );
                assert.match(summary, new RegExp(`\\*\\*Traffic API:\\*\\* \`${fromApi}\` → \`${toApi}\``), context);
                assert.doesNotMatch(summary, /No change of stage|Warning/, context);
                const app = (api: TrafficApi) => new Set(inTrafficApi(api, EXPECTED[stage]));
                const only = (x: Set<string>, y: Set<string>) => [...x].filter((n) => !y.has(n)).sort();
                const crds = /^(GatewayApiCrds|CustomResourceDefinition|ValidatingAdmissionPolicy(Binding)?)\//;
                const created = listed(summary, "created");
                assert.deepEqual(
                    created.filter((n) => !crds.test(n)),
                    only(app(toApi), app(fromApi)),
                    context,
                );
                assert.deepEqual(listed(summary, "updated"), [], context);
                assert.deepEqual(listed(summary, "deleted"), only(app(fromApi), app(toApi)), context);
                const forgotten = summary.split("\n").find((l) => l.startsWith("- forgotten, left in the cluster ("));
                if (toApi === "gateway-api") {
                    assert.ok(
                        created.includes("CustomResourceDefinition/httproutes.gateway.networking.k8s.io"),
                        context,
                    );
                    assert.equal(forgotten, undefined, context);
                } else {
                    assert.ok(
                        forgotten?.includes("`CustomResourceDefinition/httproutes.gateway.networking.k8s.io`"),
                        context,
                    );
                    assert.match(summary, /stay in the cluster \(retainOnDelete/, context);
                }
                const order = orderOf(summary);
                const firstDelete = order.findIndex((step) =>
                    step.some((n) => only(app(fromApi), app(toApi)).includes(n)),
                );
                const lastCreate = order.reduce((at, step, i) => (step.some((n) => created.includes(n)) ? i : at), -1);
                assert.ok(lastCreate < firstDelete, `${context}: ${JSON.stringify(order)}`);
            }
        // One side's API alone: the row, no switch note; both sides the same: nothing to do.
        const same = await summaryOf({
            file: "",
            from: "canary",
            to: "canary",
            fromApi: "gateway-api",
            toApi: "gateway-api",
        });
        assert.match(same, /No change of stage or weight/);
        assert.match(same, /^\| traffic API \| `gateway-api` \| `gateway-api` \|$/m);
        assert.doesNotMatch(same, /Traffic API:/);
        // Changing the stage too is warned against.
        const both = await summaryOf({ file: "", from: "lockdown", to: "canary", toApi: "gateway-api" });
        assert.match(both, /\*\*Warning:\*\* this step also changes the stage or the weight/);
    });

    it("the command: --from-config and --to-config set one side each, over --config", async () => {
        const c = CASES.find((x) => x.file === "canary-weight-30-istio-to-gateway-api.md")!;
        // --config sets both sides, --from-config the from side over it; --to-config the to side (refused here).
        const [switched, bad] = await Promise.all([
            runCommand(
                "cmd/plan.ts",
                ...["--from", "canary", "--from-canary-weight", "30", "--to", "canary", "--canary-weight", "30"],
                ...["--config", "traffic.api=gateway-api", "--from-config", "traffic.api=istio"],
            ),
            runCommand("cmd/plan.ts", "--from", "canary", "--to", "canary", "--to-config", "traffic.api=linkerd"),
        ]);
        assert.equal(switched.status, 0, switched.stderr);
        assert.equal(switched.stdout, await summaryOf(c));
        assert.equal(bad.status, 1);
        assert.match(bad.stderr, /traffic\.api = "linkerd": expected one of istio, gateway-api/);
        assert.equal(bad.stdout, "");
    });

    it("the command: bad input gets a clear error and a non-zero exit, before anything runs", async () => {
        const [unknown, weight, missing] = await Promise.all([
            runCommand("cmd/plan.ts", "--from", "bogus", "--to", "canary"),
            runCommand("cmd/plan.ts", "--from", "lockdown", "--to", "canary", "--canary-weight", "101"),
            runCommand("cmd/plan.ts", "--from", "deploy"),
        ]);
        assert.equal(unknown.status, 1);
        assert.match(unknown.stderr, /Invalid setting aks-istio-canary:stage = "bogus": expected one of deploy/);
        assert.equal(weight.status, 1);
        assert.match(weight.stderr, /aks-istio-canary:canaryWeight = "101": expected an integer from 0 to 100/);
        assert.equal(missing.status, 2);
        assert.match(missing.stderr, /--from and --to .*are required/);
        assert.equal(unknown.stdout + weight.stdout + missing.stdout, "");
    });
});
