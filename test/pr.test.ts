/**
 * The commands the pull-request workflows call (cmd/pr.ts, `plan --from-stack-file`): which
 * stacks a change previews, which images the kind job builds, and a stack's stage change read
 * from its settings file on two commits.
 */
import { strict as assert } from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { stackFileConfig } from "../cmd/plan";
import { appObjects } from "../mock/runProgram";
import { affectedStacks, imagesToBuild } from "../cmd/pr";
import { BUILT_WORKLOADS } from "../stages/names";
import { runCommand } from "./support/commands";
import { runStage } from "./support/runs";

const ROOT = path.resolve(__dirname, "..");
const STACKS = ["dev", "prod", "test"];

describe("pull requests: which stacks a change previews", () => {
    it("a changed settings file: that stack only", () =>
        assert.deepEqual(affectedStacks(["Pulumi.prod.yaml"], STACKS), ["prod"]));
    it("several settings files, and one of a stack the head commit removed", () =>
        assert.deepEqual(affectedStacks(["Pulumi.test.yaml", "Pulumi.dev.yaml", "Pulumi.gone.yaml"], STACKS), [
            "dev",
            "test",
        ]));
    for (const file of [
        "index.ts",
        "components/votingApp.ts",
        "stages/model.ts",
        "Pulumi.yaml",
        "tsconfig.pulumi.json",
        "package-lock.json",
        "app/src/app.ts",
        "app/Dockerfile",
    ])
        it(`the program (${file}): every stack`, () =>
            assert.deepEqual(affectedStacks(["README.md", file], STACKS), STACKS));
    for (const file of [
        "README.md",
        "TESTING.md",
        "test/plan.test.ts",
        "e2e/walk.e2e.ts",
        "app/test/config.test.ts",
        ".github/workflows/pull-request.yml",
    ])
        it(`not the program (${file}): no stack`, () => assert.deepEqual(affectedStacks([file], STACKS), []));
});

describe("pull requests: the images the kind job builds", () => {
    it("one per app/analytics version, named as the program names them, with app/Dockerfile's build arguments", async () => {
        const images = await imagesToBuild("kind.local");
        assert.equal(images.length, BUILT_WORKLOADS.length);
        assert.deepEqual(
            images.map((i) => `${i.image} ${i.buildArgs.COMPONENT} ${i.buildArgs.VERSION}`),
            [
                "kind.local/voting-app:1.0 app 1.0",
                "kind.local/voting-analytics:1.0 analytics 1.0",
                "kind.local/voting-analytics:1.1 analytics 1.1",
                "kind.local/voting-app:2.0 app 2.0",
                "kind.local/voting-analytics:2.0 analytics 2.0",
            ],
        );
    });
});

describe("the kind workflow's stack settings (.github/kind-e2e-config.json)", () => {
    it("the program takes them: kind's images, prebuilt; the gateway's http2 port on NodePort 30080, as .github/kind-cluster.yaml maps it", async () => {
        const settings = JSON.parse(fs.readFileSync(path.join(ROOT, ".github/kind-e2e-config.json"), "utf8"));
        const r = await runStage("deploy", { "cluster.mode": "kubeconfig", ...settings });
        const gateway = r.resources.find(
            (x) => x.type === "kubernetes:helm.sh/v3:Release" && x.inputs.chart === "gateway",
        )!;
        assert.equal(gateway.inputs.values.service.type, "NodePort");
        assert.deepEqual(
            gateway.inputs.values.service.ports.map((p: { name: string; nodePort?: number }) => [p.name, p.nodePort]),
            [
                ["status-port", undefined],
                ["http2", 30080],
                ["https", undefined],
            ],
        );
        const kind = fs.readFileSync(path.join(ROOT, ".github/kind-cluster.yaml"), "utf8");
        assert.match(kind, /containerPort: 30080\n\s+hostPort: 8080/);
        assert.ok(
            r.resources.every((x) => x.type !== "docker-build:index:Image"),
            "nothing is built by the program",
        );
        const images = appObjects(r)
            .filter((o) => o.kind === "Deployment")
            .map((d) => d.spec.template.spec.containers[0].image);
        assert.ok(
            images.some((i) => i === "kind.local/voting-app:1.0"),
            images.join(", "),
        );
    });
});

describe("pull requests: a stack's stage change, from its settings file on the base and head commits", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "plan-stack-files-"));
    const write = (name: string, text: string) => {
        const file = path.join(dir, name);
        fs.writeFileSync(file, text);
        return file;
    };
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("reads plain and structured settings, leaves secrets out", () => {
        const file = write(
            "Pulumi.a.yaml",
            [
                "config:",
                "  aks-istio-canary:stage: canary",
                "  aks-istio-canary:canaryWeight: 30",
                "  aks-istio-canary:cluster:",
                "    mode: kubeconfig",
                "  aks-istio-canary:istio:",
                "    values:",
                "      istiod: { pilot: { autoscaleEnabled: false } }",
                "  aks-istio-canary:mysqlPassword:",
                "    secure: v1:abc",
                "  other-project:stage: finalize",
            ].join("\n"),
        );
        assert.deepEqual(stackFileConfig(file), {
            stage: "canary",
            canaryWeight: "30",
            "cluster.mode": "kubeconfig",
            "istio.values": '{"istiod":{"pilot":{"autoscaleEnabled":false}}}',
        });
        assert.deepEqual(stackFileConfig(path.join(dir, "Pulumi.missing.yaml")), {});
    });

    it("plan --from-stack-file/--to-stack-file: the summary of that change, with each side's settings", async () => {
        const base = write("base.yaml", "config:\n  aks-istio-canary:stage: lockdown\n");
        const head = write(
            "head.yaml",
            'config:\n  aks-istio-canary:stage: canary\n  aks-istio-canary:canaryWeight: "30"\n',
        );
        const [out, created] = await Promise.all([
            runCommand("cmd/plan.ts", "--from-stack-file", base, "--to-stack-file", head),
            runCommand("cmd/plan.ts", "--from-stack-file", path.join(dir, "none.yaml"), "--to-stack-file", head),
        ]);
        assert.equal(out.status, 0, out.stderr);
        assert.equal(
            out.stdout,
            fs.readFileSync(path.join(ROOT, "test/fixtures/plans/lockdown-to-canary-weight-30.md"), "utf8"),
        );
        assert.equal(created.status, 0, created.stderr);
        assert.match(created.stdout, /^## Traffic change: deploy \(1\) → canary \(4\), canaryWeight 30/);
        assert.match(created.stdout, /\*\*Warning:\*\* canary is not next to deploy/);
    });
});
