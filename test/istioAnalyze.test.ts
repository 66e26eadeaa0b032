/**
 * Istio's own analyzers (`istioctl analyze`, built from the istio.io/istio module by
 * scripts/istio-tools.sh) on `render`'s output: every stage, and the canary at canaryWeight 0, 30
 * and 100, in each traffic API, analyzed as files must give no message at Warning or Error, and
 * every object must be read (istioctl skips an object it cannot parse and says so only in a log
 * line: its JSON answer is still `[]`). As files, istioctl skips the analyzers that need Services,
 * Pods and Namespaces; the end-to-end walk runs all of them against the live namespace after every
 * `pulumi up`.
 *
 * Gateway API (traffic.api=gateway-api): istioctl knows its kinds without their CRDs (it reads them
 * into Gateway API's own Go types, so a field of the wrong type is refused: the control below),
 * but no analyzer checks what an HTTPRoute or a Gateway refers to. Istio's only analyzer of those
 * kinds reads the conditions in their `status` (ResolvedRefs, Accepted), which istiod writes in a
 * cluster and istioctl does not read from files: an HTTPRoute to a Service that does not exist is
 * caught by the routing model (test/support/mesh.ts routeReferenceProblems, below), by Istio's
 * config generator (tools/istio) and by the walk's live analysis, not here.
 */
import { strict as assert } from "assert";
import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { appObjects, KubernetesObject } from "../mock/runProgram";
import { toYaml } from "../cmd/render";
import { STAGE_NAMES } from "../stages/model";
import { AnalyzerMessage, analyzeFiles, atLeastWarning, ISTIOCTL, showMessages as show } from "./support/istioctl";
import { routeReferenceProblems } from "./support/mesh";
import { clusterOfObjects, runStage, runStageIn } from "./support/runs";

/** What istioctl says on stderr when it skips an object of a file it cannot read. */
const UNPARSED = /error processing .*|could not be parsed/g;

/** analyzeFiles, failing where istioctl skipped an object it could not read (its JSON does not say). */
function analyzeEveryObject(files: string[]): Promise<AnalyzerMessage[]> {
    return new Promise((resolve, reject) => {
        execFile(
            ISTIOCTL,
            ["analyze", "--output", "json", "--use-kube=false", "--all-namespaces", ...files],
            { encoding: "utf8", timeout: 120000 },
            (error, _stdout, stderr) => {
                if (error && (error as { code?: unknown }).code !== 79)
                    return reject(new Error(`istioctl analyze failed (${error.message}): ${stderr}`));
                const unparsed = stderr.match(UNPARSED);
                if (unparsed) return reject(new Error(`istioctl could not read: ${[...new Set(unparsed)].join("; ")}`));
                resolve(analyzeFiles(files));
            },
        );
    });
}

describe("istioctl analyze on render's output (Istio's analyzers, as files)", function () {
    this.timeout(120000);
    let dir: string;

    before(function () {
        if (!fs.existsSync(ISTIOCTL)) {
            const why = `istioctl is not built (${ISTIOCTL}); \`bash scripts/istio-tools.sh\` builds it (npm test does)`;
            if (process.env.CI) throw new Error(why);
            process.stderr.write(`skipped: ${why}\n`);
            this.skip();
        }
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "istio-analyze-"));
    });

    after(() => dir && fs.rmSync(dir, { recursive: true, force: true }));

    async function write(name: string, objects: KubernetesObject[]): Promise<string> {
        const file = path.join(dir, `${name}.yaml`);
        fs.writeFileSync(file, toYaml(objects));
        return file;
    }

    const cases: [string, Record<string, string>][] = [
        ...STAGE_NAMES.filter((s) => s !== "canary").map((stage): [string, Record<string, string>] => [
            stage,
            { stage },
        ]),
        ...["0", "30", "100"].map((weight): [string, Record<string, string>] => [
            `canary-weight-${weight}`,
            { stage: "canary", canaryWeight: weight },
        ]),
    ];

    it(`every stage, and the canary at weights 0, 30 and 100: nothing at Warning or Error (${cases.map(([n]) => n).join(", ")})`, async () => {
        const files = await Promise.all(
            cases.map(async ([name, config]) => write(name, appObjects(await runStage(config.stage, config)))),
        );
        const results = await Promise.all(files.map((file) => analyzeFiles([file])));
        results.forEach((messages, i) =>
            assert.deepEqual(atLeastWarning(messages), [], `${cases[i][0]}:\n${show(messages)}`),
        );
    });

    it(`traffic.api=gateway-api: the same stages and weights, every object read, nothing at Warning or Error`, async () => {
        const files = await Promise.all(
            cases.map(async ([name, config]) =>
                write(`gateway-api-${name}`, appObjects(await runStageIn("gateway-api", config.stage, config))),
            ),
        );
        const results = await Promise.all(files.map((file) => analyzeEveryObject([file])));
        results.forEach((messages, i) =>
            assert.deepEqual(atLeastWarning(messages), [], `gateway-api ${cases[i][0]}:\n${show(messages)}`),
        );
        // What was analyzed has Gateway API's objects (canary at 100: the Gateway and both routes).
        const kinds = fs.readFileSync(files[files.length - 1], "utf8").match(/^kind: (HTTPRoute|Gateway)$/gm);
        assert.deepEqual(kinds?.sort(), ["kind: Gateway", "kind: HTTPRoute", "kind: HTTPRoute"]);
    });

    it("gateway-api: istioctl reads HTTPRoutes as Gateway API's types, so a field of the wrong type is caught (control)", async () => {
        const objects = appObjects(await runStageIn("gateway-api", "canary", { canaryWeight: "30" })).map((o) =>
            o.kind === "HTTPRoute" && o.metadata.name === "voting-app"
                ? {
                      ...o,
                      spec: {
                          ...o.spec,
                          rules: o.spec.rules.map((r: any) => ({
                              ...r,
                              backendRefs: r.backendRefs.map((b: any) => ({ ...b, weight: "heavy" })),
                          })),
                      },
                  }
                : o,
        );
        const file = await write("control-gateway-api-weight", objects);
        await assert.rejects(analyzeEveryObject([file]), /cannot unmarshal string .*weight of type int32/);
    });

    it("gateway-api: an HTTPRoute to a Service that does not exist is not seen by the analyzers as files; the routing model names it", async () => {
        const objects = appObjects(await runStageIn("gateway-api", "canary")).filter(
            (o) => !(o.kind === "Service" && o.metadata.name === "voting-app-v2-0"),
        );
        const messages = await analyzeEveryObject([await write("control-gateway-api-no-service", objects)]);
        // Should this start failing, istioctl has learnt to check Gateway API's references from
        // files: make it this file's control case, as IST0101 is for the istio API above.
        assert.deepEqual(atLeastWarning(messages), [], show(messages));
        assert.ok(
            routeReferenceProblems(clusterOfObjects(objects)).includes(
                "HTTPRoute voting-app names Service voting-app-v2-0, which does not exist",
            ),
        );
    });

    it("the analyzers do catch a route to a subset nothing defines (canary without DestinationRule voting-app-v2-0)", async () => {
        const objects = appObjects(await runStage("canary")).filter(
            (o) => !(o.kind === "DestinationRule" && o.metadata.name === "voting-app-v2-0"),
        );
        const messages = await analyzeFiles([await write("control-no-subset", objects)]);
        const errors = atLeastWarning(messages);
        assert.ok(
            errors.some((m) => m.code === "IST0101" && /voting-app/.test(m.message)),
            `expected IST0101 for the missing subset, got:\n${show(messages)}`,
        );
    });
});
