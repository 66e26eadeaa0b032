/**
 * Istio's own analyzers (`istioctl analyze`, built from the istio.io/istio module by
 * scripts/istio-tools.sh) on `render`'s output: every stage, and the canary at canaryWeight 0, 30
 * and 100, analyzed as files must give no message at Warning or Error. As files, istioctl skips the
 * analyzers that need Services, Pods and Namespaces; the end-to-end walk runs all of them against
 * the live namespace after every `pulumi up`.
 */
import { strict as assert } from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { appObjects, KubernetesObject } from "../mock/runProgram";
import { toYaml } from "../mock/render";
import { STAGE_NAMES } from "../stages/model";
import { analyzeFiles, atLeastWarning, ISTIOCTL, showMessages as show } from "./support/istioctl";
import { runStage } from "./support/runs";

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
