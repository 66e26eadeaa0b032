/**
 * `npm run --silent render -- --stage <name> [--canary-weight N] [--config key=value ...]`
 *
 * Prints, as multi-document YAML, every Kubernetes object the program registers for that stage in
 * the app namespace (plus the namespace and the Istio Gateway), Secret values redacted, in a fixed
 * order. It runs the real program under Pulumi's mock runtime: no cloud, cluster or CLI needed.
 */
import { parseArgs } from "util";
import * as YAML from "yaml";
import { STAGE_NAMES } from "../stages/model";
import { appObjects, configPairs, KubernetesObject, runProgram, StackConfig } from "../mock/runProgram";

export function redact(object: KubernetesObject): KubernetesObject {
    if (object.kind !== "Secret") return object;
    const hide = (data?: Record<string, string>) =>
        data &&
        Object.fromEntries(
            Object.keys(data)
                .sort()
                .map((k) => [k, "<redacted>"]),
        );
    const { data, stringData, ...rest } = object;
    return { ...rest, ...(data ? { data: hide(data) } : {}), ...(stringData ? { stringData: hide(stringData) } : {}) };
}

/**
 * Multi-document YAML that reads the same in a YAML 1.1 reader (kubectl, istioctl, every Go tool:
 * sigs.k8s.io/yaml) as in a YAML 1.2 one: emitted with the 1.1 schema, so a string such as Redis's
 * argument `yes`, `on` or `12:30`, which 1.1 would read as a boolean or a number, is quoted.
 */
export function toYaml(objects: KubernetesObject[]): string {
    return objects
        .map((o) => YAML.stringify(redact(o), { version: "1.1", sortMapEntries: true, lineWidth: 0 }))
        .join("---\n");
}

async function main(argv: string[]): Promise<number> {
    let values;
    try {
        ({ values } = parseArgs({
            args: argv,
            options: {
                stage: { type: "string" },
                "canary-weight": { type: "string" },
                config: { type: "string", multiple: true },
                help: { type: "boolean", short: "h" },
            },
            strict: true,
        }));
    } catch (err) {
        process.stderr.write(`render: ${(err as Error).message}\n`);
        return 2;
    }
    if (values.help) {
        process.stdout.write(
            `usage: npm run --silent render -- --stage <${STAGE_NAMES.join("|")}> [--canary-weight N] [--config key=value ...]\n`,
        );
        return 0;
    }
    let config: StackConfig;
    try {
        config = configPairs(values.config ?? []);
    } catch (err) {
        process.stderr.write(`render: ${(err as Error).message}\n`);
        return 2;
    }
    if (values.stage !== undefined) config.stage = values.stage;
    if (values["canary-weight"] !== undefined) config.canaryWeight = values["canary-weight"];
    try {
        const run = await runProgram(config);
        process.stdout.write(toYaml(appObjects(run)));
        return 0;
    } catch (err) {
        process.stderr.write(`render: ${(err as Error).message}\n`);
        return 1;
    }
}

if (require.main === module) {
    main(process.argv.slice(2)).then((code) => process.exit(code));
}
