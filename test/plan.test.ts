/**
 * `plan`: the traffic summary a pull request shows for a stage change. Each case is held to its
 * expected Markdown (test/fixtures/plans/, reviewed by hand), and, independently of that text, to
 * the brief's transitions (FORWARD), the model's change order and the warning rules.
 */
import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import { planSide, trafficSummary } from "../mock/plan";
import { changeOrder, STAGE_NAMES } from "../stages/model";
import { FORWARD } from "./support/expected";
import { runCommand } from "./support/commands";
import { run } from "./support/runs";

const FIXTURES = path.join(__dirname, "fixtures", "plans");

interface Case {
    file: string;
    from: string;
    to: string;
    fromWeight?: string;
    toWeight?: string;
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
];

const summaryOf = async (c: Case) =>
    trafficSummary(await planSide(c.from, c.fromWeight, {}, run), await planSide(c.to, c.toWeight, {}, run));

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
                        `npm run --silent plan -- --from ${c.from}${c.fromWeight ? ` --from-canary-weight ${c.fromWeight}` : ""} --to ${c.to}${c.toWeight ? ` --canary-weight ${c.toWeight}` : ""} > test/fixtures/plans/${c.file}`,
                );
            }
        });
    }

    for (const [a, b] of pairs) {
        const forward = FORWARD[`${a}->${b}`];
        it(`${a} -> ${b} and back: the objects listed are the brief's transition and its inverse`, async () => {
            const there = await summaryOf({ file: "", from: a, to: b });
            assert.deepEqual(listed(there, "created"), [...forward.create].sort());
            assert.deepEqual(listed(there, "updated"), [...forward.update].sort());
            assert.deepEqual(listed(there, "deleted"), [...forward.delete].sort());
            const back = await summaryOf({ file: "", from: b, to: a });
            assert.deepEqual(listed(back, "created"), [...forward.delete].sort());
            assert.deepEqual(listed(back, "deleted"), [...forward.create].sort());
        });
    }

    it("make before break: the ingress route moves last into an expanding stage, first into a contracting one; deletes come last", async () => {
        const checked = { expand: 0, contract: 0, deletes: 0 };
        for (const [a, b] of [...pairs, ...pairs.map(([x, y]) => [y, x] as const)]) {
            const summary = await summaryOf({ file: "", from: a, to: b });
            const order = orderOf(summary);
            const ingress = order.findIndex((step) => step.includes("VirtualService/voting-app"));
            const innerRoutes = order.flatMap((step, i) =>
                step.some((n) => /^VirtualService\/voting-(analytics|storage)$/.test(n)) ? [i] : [],
            );
            const updated = listed(summary, "updated");
            if (updated.includes("VirtualService/voting-app") && innerRoutes.length > 0 && updated.length > 1) {
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

    it("the command: bad input gets a clear error and a non-zero exit, before anything runs", async () => {
        const [unknown, weight, missing] = await Promise.all([
            runCommand("mock/plan.ts", "--from", "bogus", "--to", "canary"),
            runCommand("mock/plan.ts", "--from", "lockdown", "--to", "canary", "--canary-weight", "101"),
            runCommand("mock/plan.ts", "--from", "deploy"),
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
