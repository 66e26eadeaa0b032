/**
 * Committed snapshots of `render`'s output (snapshots/render/*.yaml): each stage at the default
 * settings, and the canary with a weighted share, in each traffic API (gateway-api-*.yaml:
 * traffic.api=gateway-api). A reviewer sees, in every pull request, the
 * manifest diff a change to the program makes; test/renderSnapshots.test.ts fails when the
 * program's output drifts from them.
 *
 *   npm run --silent snapshots     rewrite them from the program (then review and commit the diff)
 */
import * as fs from "fs";
import * as path from "path";
import { STAGE_NAMES } from "../stages/model";
import { TRAFFIC_APIS, TrafficApi } from "../stages/traffic/router";
import { toYaml } from "./render";
import { appObjects, PROJECT_DIR, runProgram, StackConfig } from "../mock/runProgram";

export const SNAPSHOT_DIR = path.join(PROJECT_DIR, "snapshots", "render");
export const UPDATE_COMMAND = "npm run --silent snapshots";

export interface RenderSnapshot {
    file: string;
    /** The `render` command that prints it. */
    command: string;
    config: StackConfig;
}

/** Each stage at the default settings and the canary at weight 30, in one traffic API (istio's files keep their names). */
function snapshotsIn(api: TrafficApi): RenderSnapshot[] {
    const prefix = api === "istio" ? "" : `${api}-`;
    const flag = api === "istio" ? "" : ` --config traffic.api=${api}`;
    const config: StackConfig = api === "istio" ? {} : { "traffic.api": api };
    return [
        ...STAGE_NAMES.map((stage) => ({
            file: `${prefix}${stage}.yaml`,
            command: `npm run --silent render -- --stage ${stage}${flag}`,
            config: { stage, ...config },
        })),
        {
            file: `${prefix}canary-weight-30.yaml`,
            command: `npm run --silent render -- --stage canary --canary-weight 30${flag}`,
            config: { stage: "canary", canaryWeight: "30", ...config },
        },
    ];
}

export const RENDER_SNAPSHOTS: RenderSnapshot[] = TRAFFIC_APIS.flatMap(snapshotsIn);

/** What `render` prints for the snapshot's settings (the same function the command calls). */
export async function renderSnapshot(snapshot: RenderSnapshot): Promise<string> {
    return toYaml(appObjects(await runProgram(snapshot.config)));
}

export function header(snapshot: RenderSnapshot): string {
    return `# ${snapshot.command}\n# Written by \`${UPDATE_COMMAND}\`; do not edit by hand.\n`;
}

async function main(): Promise<void> {
    fs.mkdirSync(SNAPSHOT_DIR, { recursive: true });
    for (const snapshot of RENDER_SNAPSHOTS) {
        const file = path.join(SNAPSHOT_DIR, snapshot.file);
        const text = header(snapshot) + (await renderSnapshot(snapshot));
        const before = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : undefined;
        if (before !== text) fs.writeFileSync(file, text);
        process.stdout.write(
            `${before === text ? "unchanged" : before === undefined ? "written  " : "updated  "} snapshots/render/${snapshot.file}\n`,
        );
    }
}

if (require.main === module) {
    main().catch((err) => {
        process.stderr.write(`snapshots: ${(err as Error).message}\n`);
        process.exit(1);
    });
}
