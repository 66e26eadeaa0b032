/**
 * `npm run --silent plan -- --from <stage> --to <stage> [--from-canary-weight N] [--canary-weight N] [--config key=value ...]`
 *
 * Prints, as Markdown, how one `pulumi up` from one stage to another moves users' traffic: which
 * app, analytics and storage versions serve users without and with the flag cookie before and
 * after (with weights), the traffic API each side uses (traffic.api), the objects created, updated
 * and deleted (and those only forgotten: retainOnDelete), and the order the engine applies them in
 * (make before break). It warns when the step is not to a neighbouring stage, and when it changes
 * both the stage and the traffic API. `--from-config` / `--to-config` set one side's settings
 * (over `--config`, which sets both): a switch of traffic API is
 * `--from-config traffic.api=istio --to-config traffic.api=gateway-api`.
 *
 * Who is served what comes from the stage model (`userChains`); the objects and their order come
 * from the program's own registrations under Pulumi's mock runtime, the path `render` and
 * `pulumi up` take: no second description of the stages.
 */
import * as fs from "fs";
import { parseArgs } from "util";
import * as YAML from "yaml";
import {
    neighbours,
    planStage,
    STAGE_NAMES,
    STAGES,
    STORAGE_ENGINES,
    StageName,
    StagePlan,
    UserChain,
    userChains,
    voteCarry,
} from "../stages/model";
import { FEATURE_FLAG_COOKIE } from "../stages/meshManifests";
import { PROJECT } from "../stages/names";
import type { TrafficApi } from "../stages/traffic/router";
import { closure, diff, Step } from "../mock/changes";
import { configPairs, ProgramRun, runProgram, StackConfig } from "../mock/runProgram";

/** One side of the step: the stage, the weight it runs with, the traffic API, the program's registrations there. */
export interface PlanSide {
    plan: StagePlan;
    canaryWeight: number;
    trafficApi: TrafficApi;
    run: ProgramRun;
}

/** A delete that leaves the cluster's object in place: retainOnDelete, or a component (it has none). */
const forgets = (s: Step) => s.kind === "delete" && (s.before!.retainOnDelete || !s.before!.custom);
const stepKind = (s: Step) => (forgets(s) ? "forget" : s.kind);

const ENGINE_NAMES = { redis: "Redis", mysql: "MySQL" } as const;

const chainText = (c: UserChain) =>
    `${c.share} %: app ${c.app} → analytics ${c.analytics.join(" / ")}${c.analytics.length > 1 ? " (in turn)" : ""} → storage ${c.storage} (${ENGINE_NAMES[STORAGE_ENGINES[c.storage].engine]})`;

const sideTitle = ({ plan, canaryWeight }: PlanSide) =>
    `${plan.stage.name} (${plan.stage.number})${plan.stage.weightedCanary ? `, canaryWeight ${canaryWeight}` : ""}`;

/** Steps that change something, in the waves the engine can apply them in: each after everything it depends on. */
function waves(steps: Step[], from: ProgramRun, to: ProgramRun): Step[][] {
    const forward = steps.filter((s) => s.kind === "create" || s.kind === "update");
    const deletes = steps.filter((s) => s.kind === "delete");
    const newDeps = closure(to);
    const oldDeps = closure(from);
    const layer = (items: Step[], waitsFor: (s: Step, other: Step) => boolean): Step[][] => {
        const result: Step[][] = [];
        let left = items;
        while (left.length > 0) {
            const ready = left.filter((s) => !left.some((o) => o !== s && waitsFor(s, o)));
            if (ready.length === 0)
                throw new Error(`plan: a dependency cycle among ${left.map((s) => s.label).join(", ")}`);
            result.push(ready);
            left = left.filter((s) => !ready.includes(s));
        }
        return result;
    };
    return [
        // A child is registered after its parent (a component: GatewayApiCrds' CRDs).
        ...layer(forward, (s, o) => (newDeps.get(s.urn)?.has(o.urn) ?? false) || s.after?.parent === o.urn),
        // A delete waits until whatever depended on it (in the old state) is gone; a parent, its children.
        ...layer(deletes, (s, o) => (oldDeps.get(o.urn)?.has(s.urn) ?? false) || o.before?.parent === s.urn),
    ];
}

const listOf = (steps: Step[]) =>
    steps
        .map((s) => s.label)
        .sort()
        .map((l) => `\`${l}\``)
        .join(", ");

/** The steps of `pulumi up` from one side to the other that change something. */
const steps = (from: PlanSide, to: PlanSide): Step[] => diff(from.run, to.run).filter((s) => s.kind !== "same");

/** The Markdown summary of the step `from` → `to`. */
export function trafficSummary(from: PlanSide, to: PlanSide): string {
    const lines: string[] = [];
    const [a, b] = [from.plan.stage, to.plan.stage];
    lines.push(`## Traffic change: ${sideTitle(from)} → ${sideTitle(to)}`, "");

    const switchesApi = from.trafficApi !== to.trafficApi;
    if (switchesApi) {
        const sameStage = a.name === b.name && from.canaryWeight === to.canaryWeight;
        lines.push(
            `> **Traffic API:** \`${from.trafficApi}\` → \`${to.trafficApi}\`: the step creates the \`${to.trafficApi}\` objects listed below`,
            `> before it deletes the \`${from.trafficApi}\` ones (deletes run last)${sameStage ? "; the workloads and the ingress address stay" : ""}.`,
        );
        if (!sameStage)
            lines.push(
                ">",
                "> **Warning:** this step also changes the stage or the weight. Switch the traffic API alone, at one",
                "> stage, and change the stage in another `pulumi up`: the project's tests hold a switch to make before",
                "> break at one stage only.",
            );
        if (steps(from, to).some((s) => forgets(s) && s.before!.custom))
            lines.push(
                ">",
                "> Gateway API's CRDs leave the stack but stay in the cluster (retainOnDelete: deleting a CRD deletes",
                "> every object of its kind, other owners' too). A later switch back to `gateway-api` finds them there:",
                "> set `traffic.gatewayApiCrds=cluster` for it, or `pulumi import` them.",
            );
        lines.push("");
    }
    if (a.name === b.name && from.canaryWeight === to.canaryWeight && !switchesApi) {
        lines.push("> No change of stage or weight: `pulumi up` keeps users where they are.", "");
    } else if (a.name !== b.name && !neighbours(a.name).some((n) => n.name === b.name)) {
        const skipped = STAGES.filter(
            (s) => s.number > Math.min(a.number, b.number) && s.number < Math.max(a.number, b.number),
        );
        lines.push(
            `> **Warning:** ${b.name} is not next to ${a.name}: this step skips ${skipped.map((s) => s.name).join(", ")}.`,
            "> The rollout moves one stage per `pulumi up`: each step between neighbours is held to make before",
            "> break by the project's tests; a step that skips stages is not.",
            "",
        );
    }

    const cell = (side: PlanSide, flagged: boolean) => userChains(side.plan, flagged).map(chainText).join("<br>");
    const mtls = (side: PlanSide) => (side.plan.stage.strictMtls ? "STRICT" : "permissive");
    lines.push(
        `| users | before: ${sideTitle(from)} | after: ${sideTitle(to)} |`,
        "|---|---|---|",
        `| without the flag cookie | ${cell(from, false)} | ${cell(to, false)} |`,
        `| with \`${FEATURE_FLAG_COOKIE}\` | ${cell(from, true)} | ${cell(to, true)} |`,
        `| mTLS in the namespace | ${mtls(from)} | ${mtls(to)} |`,
        `| traffic API | \`${from.trafficApi}\` | \`${to.trafficApi}\` |`,
        "",
    );

    const changes = steps(from, to);
    const of = (kind: string) => changes.filter((s) => stepKind(s) === kind);
    lines.push("### Objects", "");
    for (const [kind, title] of [
        ["create", "created"],
        ["update", "updated"],
        ["delete", "deleted"],
    ] as const) {
        const these = of(kind);
        lines.push(`- ${title} (${these.length}): ${these.length ? listOf(these) : "none"}`);
    }
    const forgotten = of("forget");
    if (forgotten.length > 0)
        lines.push(`- forgotten, left in the cluster (${forgotten.length}): ${listOf(forgotten)}`);
    lines.push("");

    lines.push(...callsSection(from, to, changes));
    lines.push(...votesSection(from, to, changes));
    if (changes.length > 0) {
        lines.push("### Order (make before break)", "");
        waves(changes, from.run, to.run).forEach((wave, i) => {
            const parts = (["create", "update", "delete", "forget"] as const)
                .filter((kind) => wave.some((s) => stepKind(s) === kind))
                .map((kind) => `${kind} ${listOf(wave.filter((s) => stepKind(s) === kind))}`);
            lines.push(`${i + 1}. ${parts.join("; ")}`);
        });
        lines.push(
            "",
            "Each object waits for what it depends on in the steps above it (a Deployment is done when its pods",
            "are ready); deletes run last, after every create and update, each after what depended on it.",
            "",
        );
    }
    return lines.join("\n");
}

/** An AuthorizationPolicy step: the call it allows, as "caller → callee, port" (none: the deny by default). */
function allowedCallOf(s: Step): string | undefined {
    const r = s.after ?? s.before!;
    const rule = r.inputs?.spec?.rules?.[0];
    if (!rule) return undefined;
    const principal: string = rule.from?.[0]?.source?.principals?.[0] ?? "";
    const [, namespace, account] = /\/ns\/([^/]+)\/sa\/(.+)$/.exec(principal) ?? [];
    const caller =
        namespace === r.inputs.metadata?.namespace ? account : `${namespace}/${account} (the ingress gateway)`;
    const callee = r.inputs.spec.selector?.matchLabels ?? {};
    return `${caller} → ${callee.app} ${callee.version}, port ${rule.to?.[0]?.operation?.ports?.join(", ")}`;
}

/**
 * Who may call whom (traffic.authorization): the calls the step allows (each before whatever makes
 * it) and revokes (deletes: after the routes stopped making it and its caller is gone), read from
 * the AuthorizationPolicies the program registers. Empty when neither side has any.
 */
function callsSection(from: PlanSide, to: PlanSide, changes: Step[]): string[] {
    const isPolicy = (r: { inputs?: any } | undefined) => r?.inputs?.kind === "AuthorizationPolicy";
    const hasPolicies = (side: PlanSide) => side.run.resources.some((r) => isPolicy(r));
    if (!hasPolicies(from) && !hasPolicies(to)) return [];
    const out = ["### Calls (least privilege)", ""];
    const order = waves(changes, from.run, to.run);
    const stepOf = (s: Step) => order.findIndex((w) => w.includes(s)) + 1;
    const policySteps = changes.filter((s) => isPolicy(s.after ?? s.before));
    const denyByDefault = policySteps.find((s) => allowedCallOf(s) === undefined);
    if (denyByDefault)
        out.push(
            denyByDefault.kind === "create"
                ? `- Deny by default turned on (step ${stepOf(denyByDefault)}, after every allow below).`
                : `- Deny by default turned off: every call is allowed (step ${stepOf(denyByDefault)}).`,
        );
    for (const [kind, title] of [
        ["create", "allowed"],
        ["delete", "revoked"],
    ] as const) {
        const these = policySteps.filter((s) => s.kind === kind && allowedCallOf(s) !== undefined);
        if (these.length === 0) {
            out.push(`- ${title}: none`);
            continue;
        }
        out.push(`- ${title} (${these.length}):`);
        for (const s of these) out.push(`  - ${allowedCallOf(s)} (step ${stepOf(s)})`);
    }
    const changed = policySteps.filter((s) => s.kind === "update");
    if (changed.length > 0) out.push(`- **changed in place** (${changed.length}): ${listOf(changed)}`);
    out.push("");
    return out;
}

/** A Job that runs the vote carry (`node dist/carry.js`, app/src/carry.ts). */
const isCarry = (s: Step) =>
    s.after?.inputs?.kind === "Job" &&
    JSON.stringify(s.after.inputs.spec?.template?.spec?.containers?.[0]?.command) ===
        JSON.stringify(["node", "dist/carry.js"]);
/** A store's Deployment, by the engine its image runs. */
const storeOf = (s: Step, engine: "redis" | "mysql") => {
    const r = s.after ?? s.before!;
    return (
        r.inputs?.kind === "Deployment" &&
        new RegExp(`(^|/)${engine}:`).test(r.inputs.spec?.template?.spec?.containers?.[0]?.image ?? "")
    );
};

/**
 * What the step does with the votes: which carry Job (if any) moves them from Redis to MySQL, in
 * which step of the order, after and before what; or, where a store stops or comes back without a
 * carry, what each chain shows. Empty when neither store starts or stops and nothing is carried.
 */
function votesSection(from: PlanSide, to: PlanSide, changes: Step[]): string[] {
    const carries = changes.filter((s) => s.kind === "create" && isCarry(s));
    const storesChange = changes.some((s) => s.kind !== "update" && (storeOf(s, "redis") || storeOf(s, "mysql")));
    if (carries.length === 0 && !storesChange) return [];
    const out = ["### Votes", ""];
    const order = waves(changes, from.run, to.run);
    const stepOf = (s: Step) => order.findIndex((w) => w.includes(s)) + 1;
    const deps = closure(to.run);
    const kind = voteCarry(to.plan.stage);
    for (const job of carries) {
        const waiting = changes.filter(
            (s) =>
                s.kind !== "delete" &&
                s !== job &&
                deps.get(s.urn)?.has(job.urn) &&
                s.after?.inputs?.kind === "Deployment",
        );
        const redisDeletes = changes.filter((s) => s.kind === "delete" && storeOf(s, "redis"));
        const what =
            kind === "seed"
                ? "seeds MySQL (storage 2.0) with the votes in Redis (storage 1.0) that it does not hold yet"
                : "carries the votes 1.x took in Redis (storage 1.0) since the last carry into MySQL (storage 2.0)";
        const before = [
            ...(waiting.length > 0 ? [`before ${listOf(waiting)} start on MySQL`] : []),
            ...(redisDeletes.length > 0 ? [`before ${listOf(redisDeletes)} (Redis) is deleted`] : []),
        ];
        const after = kind === "final" ? "after the routes moved every user to 2.0" : "once both stores answer";
        out.push(
            `- \`${job.label}\` ${what}, exactly once (step ${stepOf(job)}): ${after}${before.length ? `, ${before.join(" and ")}` : ""}.` +
                (kind === "seed" && changes.some((s) => s.kind === "create" && storeOf(s, "redis"))
                    ? " Redis comes back from its volume: 1.x shows the votes cast on 1.x, without those cast on 2.0."
                    : kind === "seed"
                      ? " The 1.x chain keeps voting into Redis meanwhile."
                      : ""),
        );
    }
    if (carries.length === 0) {
        const stops = (engine: "redis" | "mysql") => changes.some((s) => s.kind === "delete" && storeOf(s, engine));
        if (stops("mysql"))
            out.push(
                "- No vote is carried. MySQL stops; its votes stay on its volume for the next canary, which carries",
                "  only what 1.x takes in Redis from now on. 1.x shows Redis's counts: without the votes cast on 2.0.",
            );
        else if (stops("redis"))
            out.push(
                "- **No vote is carried, and Redis stops:** the votes 1.x took since the last carry stay in Redis only.",
            );
        else out.push("- No vote is carried.");
    }
    out.push("");
    return out;
}

/**
 * Runs the program at one stage (with the stack's other settings), which validates the settings as
 * `pulumi up` does, and returns that side of the step.
 */
export async function planSide(
    stage: string,
    canaryWeight: string | undefined,
    config: StackConfig = {},
    runner: (config: StackConfig) => Promise<ProgramRun> = runProgram,
): Promise<PlanSide> {
    const run = await runner({ ...config, stage, ...(canaryWeight === undefined ? {} : { canaryWeight }) });
    const name = run.outputs.stage as StageName;
    const weight = run.outputs.canaryWeight as number;
    const trafficApi = run.outputs.trafficApi as TrafficApi;
    return { plan: planStage(name, { canaryWeight: weight }), canaryWeight: weight, trafficApi, run };
}

/**
 * The plain settings of a stack's settings file (Pulumi.<stack>.yaml), as `--config` takes them:
 * `aks-istio-canary:stage: canary` -> stage=canary, structured `aks-istio-canary:cluster: {mode: kubeconfig}`
 * -> cluster.mode=kubeconfig (an object field as JSON). Secrets (`secure:`) are left out. A file that
 * does not exist has no settings.
 */
export function stackFileConfig(file: string): StackConfig {
    if (!fs.existsSync(file)) return {};
    const parsed = YAML.parse(fs.readFileSync(file, "utf8")) ?? {};
    const config: StackConfig = {};
    const prefix = `${PROJECT}:`;
    const isSecret = (v: unknown) => typeof v === "object" && v !== null && "secure" in v;
    for (const [key, value] of Object.entries<unknown>(parsed.config ?? {})) {
        if (!key.startsWith(prefix) || isSecret(value)) continue;
        const name = key.slice(prefix.length);
        if (typeof value === "object" && value !== null && !Array.isArray(value)) {
            for (const [field, v] of Object.entries(value)) {
                if (isSecret(v)) continue;
                config[`${name}.${field}`] = typeof v === "object" && v !== null ? JSON.stringify(v) : String(v);
            }
        } else config[name] = String(value);
    }
    return config;
}

async function main(argv: string[]): Promise<number> {
    const usage = `usage: npm run --silent plan -- --from <${STAGE_NAMES.join("|")}> --to <stage> [--from-canary-weight N] [--canary-weight N] [--config key=value ...] [--from-config key=value ...] [--to-config key=value ...]\n       npm run --silent plan -- --from-stack-file <base Pulumi.<stack>.yaml> --to-stack-file <head Pulumi.<stack>.yaml>\n`;
    let values;
    try {
        ({ values } = parseArgs({
            args: argv,
            options: {
                from: { type: "string" },
                to: { type: "string" },
                "from-canary-weight": { type: "string" },
                "canary-weight": { type: "string" },
                "from-stack-file": { type: "string" },
                "to-stack-file": { type: "string" },
                config: { type: "string", multiple: true },
                "from-config": { type: "string", multiple: true },
                "to-config": { type: "string", multiple: true },
                help: { type: "boolean", short: "h" },
            },
            strict: true,
        }));
    } catch (err) {
        process.stderr.write(`plan: ${(err as Error).message}\n${usage}`);
        return 2;
    }
    if (values.help) {
        process.stdout.write(usage);
        return 0;
    }
    let config: StackConfig;
    let fromConfig: StackConfig;
    let toConfig: StackConfig;
    try {
        config = configPairs(values.config ?? []);
        fromConfig = configPairs(values["from-config"] ?? []);
        toConfig = configPairs(values["to-config"] ?? []);
    } catch (err) {
        process.stderr.write(`plan: ${(err as Error).message}\n`);
        return 2;
    }
    try {
        // A stack's settings file on the base and head commits of a pull request: each side runs
        // with that file's settings (a file that does not exist: a new stack, Pulumi.yaml's defaults).
        const fromFile =
            values["from-stack-file"] === undefined ? undefined : stackFileConfig(values["from-stack-file"]);
        const toFile = values["to-stack-file"] === undefined ? undefined : stackFileConfig(values["to-stack-file"]);
        const fromStage = values.from ?? (fromFile ? (fromFile.stage ?? "deploy") : undefined);
        const toStage = values.to ?? (toFile ? (toFile.stage ?? "deploy") : undefined);
        if (fromStage === undefined || toStage === undefined) {
            process.stderr.write(
                `plan: --from and --to (or --from-stack-file and --to-stack-file) are required\n${usage}`,
            );
            return 2;
        }
        const from = await planSide(fromStage, values["from-canary-weight"] ?? fromFile?.canaryWeight, {
            ...fromFile,
            ...config,
            ...fromConfig,
        });
        const to = await planSide(toStage, values["canary-weight"] ?? toFile?.canaryWeight, {
            ...toFile,
            ...config,
            ...toConfig,
        });
        process.stdout.write(trafficSummary(from, to));
        return 0;
    } catch (err) {
        process.stderr.write(`plan: ${(err as Error).message}\n`);
        return 1;
    }
}

if (require.main === module) {
    main(process.argv.slice(2)).then((code) => process.exit(code));
}
