/**
 * What the pull-request workflows (.github/workflows/) ask of the repository, as commands they call
 * and the unit suite runs (test/pr.test.ts):
 *
 *   affected-stacks <changed file>...   JSON array of the stacks whose preview the change needs
 *   images --registry <host>            one line per image the app builds: <image> <COMPONENT> <VERSION>
 *                                       (app/Dockerfile's build arguments), as the program names them
 */
import * as fs from "fs";
import * as path from "path";
import { parseArgs } from "util";
import { runProgram } from "../mock/runProgram";
import { BUILT_WORKLOADS, buildArgsOf, workloadName } from "../stages/names";

const ROOT = path.resolve(__dirname, "..");
const STACK_FILE = /^Pulumi\.([^./]+)\.yaml$/;

/**
 * Files whose change can change what a stack deploys: the program, its settings schema, how the
 * language host compiles it (tsconfig.pulumi.json, named in Pulumi.yaml), the app's image.
 */
const PROGRAM_FILE =
    /^(index\.ts|Pulumi\.yaml|package(-lock)?\.json|tsconfig(\.pulumi)?\.json|components\/.*|stages\/.*|app\/(src|sql)\/.*|app\/(Dockerfile|package(-lock)?\.json|tsconfig\.json))$/;

/**
 * The stacks a change needs a preview of: every stack when the program changes, else the stacks
 * whose settings file changed (and still exists: `stacks` are the stacks of the head commit).
 */
export function affectedStacks(changed: string[], stacks: string[]): string[] {
    if (changed.some((f) => PROGRAM_FILE.test(f))) return [...stacks].sort();
    const touched = changed.map((f) => STACK_FILE.exec(f)?.[1]).filter((s): s is string => s !== undefined);
    return stacks.filter((s) => touched.includes(s)).sort();
}

/** The stacks of the working tree: one per Pulumi.<stack>.yaml. */
export function stacksIn(dir: string): string[] {
    return fs
        .readdirSync(dir)
        .map((f) => STACK_FILE.exec(f)?.[1])
        .filter((s): s is string => s !== undefined)
        .sort();
}

/** Each image the app builds, as the program names it with images.build=false and this registry. */
export async function imagesToBuild(registry: string): Promise<{ image: string; buildArgs: Record<string, string> }[]> {
    const run = await runProgram({
        "cluster.mode": "kubeconfig",
        "images.build": "false",
        "images.registry": registry,
    });
    const images = run.outputs.images as Record<string, string>;
    return BUILT_WORKLOADS.map((ref) => ({ image: images[workloadName(ref)], buildArgs: buildArgsOf(ref) }));
}

async function main(argv: string[]): Promise<number> {
    const [command, ...rest] = argv;
    if (command === "affected-stacks") {
        process.stdout.write(`${JSON.stringify(affectedStacks(rest, stacksIn(ROOT)))}\n`);
        return 0;
    }
    if (command === "images") {
        const { values } = parseArgs({ args: rest, options: { registry: { type: "string" } }, strict: true });
        if (!values.registry) {
            process.stderr.write("pr: images needs --registry <host>\n");
            return 2;
        }
        for (const { image, buildArgs } of await imagesToBuild(values.registry))
            process.stdout.write(`${image} ${buildArgs.COMPONENT} ${buildArgs.VERSION}\n`);
        return 0;
    }
    process.stderr.write("usage: pr.ts affected-stacks <changed file>... | images --registry <host>\n");
    return 2;
}

if (require.main === module) {
    main(process.argv.slice(2)).then(
        (code) => process.exit(code),
        (err) => {
            process.stderr.write(`pr: ${(err as Error).message}\n`);
            process.exit(1);
        },
    );
}
