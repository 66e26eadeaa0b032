/**
 * `render`'s YAML (cmd/render.ts) as the API server itself decodes and validates it, for a stage
 * the walk's stack reached with the same settings.
 */
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as YAML from "yaml";
import { EXPECTED, inTrafficApi } from "../test/support/expected";
import { KubeClient } from "./kube";
import { ROOT } from "./stackProgram";
import type { TrafficApi } from "../stages/traffic/router";

/**
 * `render`'s YAML for the stage (same settings, traffic API included), applied as a dry run:
 * the API server decodes each document itself, as kubectl would (YAML 1.1), and validates it;
 * nothing is stored.
 */
export async function checkRenderDecodes(
    kube: KubeClient,
    settings: Record<string, string>,
    api: TrafficApi,
    stage: string,
) {
    const args = ["-r", "ts-node/register/transpile-only", "cmd/render.ts", "--stage", stage];
    for (const [k, v] of Object.entries(settings)) args.push("--config", `${k}=${v}`);
    const rendered = spawnSync(process.execPath, args, { cwd: ROOT, encoding: "utf8" });
    assert.equal(rendered.status, 0, rendered.stderr);
    const documents = rendered.stdout.split(/^---\n/m).filter((d) => d.trim());
    const expected = inTrafficApi(api, EXPECTED[stage]).length;
    assert.ok(documents.length >= expected, `render printed ${documents.length} documents of ${expected}`);
    for (const text of documents) {
        const object = YAML.parse(text);
        await kube.applyYamlDryRun(object, text).catch((err: Error) => {
            throw new Error(
                `${stage}: the API server does not read render's ${object.kind}/${object.metadata.name} as meant: ${err.message}`,
            );
        });
    }
}
