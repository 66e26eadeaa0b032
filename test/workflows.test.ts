/**
 * The edges the workflows (.github/workflows) have with Azure and with Istio's chart repository,
 * held as contracts:
 *   - OIDC subjects: for every job that logs into Azure, the subject GitHub puts in its token, for
 *     each trigger of its workflow, is one of the federated credentials the README lists in its one
 *     table ("Federated credentials (OIDC)"), and every line of that table is used. GitHub's rule
 *     (docs.github.com, "OpenID Connect reference"): the environment when the job references one;
 *     else `pull_request` for a pull-request event; else the branch or tag ref (a push, a run by
 *     hand). Control cases run the same computation on altered copies of the parsed workflows.
 *   - the ephemeral AKS clean-up runs right after a fresh Azure login (test/cleanup.test.ts holds the
 *     script itself to its decisions);
 *   - GitHub's `npm test` job pulls Istio's charts at Pulumi.yaml's istio.version default from Istio's
 *     live repository (.github/istio-charts.sh, run here with a stand-in `helm`) into the static chart
 *     repository the walk reads from E2E_ISTIO_CHARTS, before it runs `.ci/run`.
 * What this cannot prove: that GitHub issues these tokens and Azure accepts them, or that the live
 * repository serves the charts (TESTING.md, "The workflows").
 */
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";

const ROOT = path.resolve(__dirname, "..");
const WORKFLOWS_DIR = path.join(ROOT, ".github", "workflows");
const CREDENTIALS_HEADING = "### Federated credentials (OIDC)";
const SUBJECT_PREFIX = "repo:<owner>/<repo>:";

interface Step {
    name?: string;
    uses?: string;
    run?: string;
    if?: string;
    with?: Record<string, unknown>;
    env?: Record<string, unknown>;
}
interface Job {
    uses?: string;
    environment?: string | { name: string; url?: string };
    steps?: Step[];
    "timeout-minutes"?: number;
    container?: unknown;
}
interface Workflow {
    on: string | string[] | Record<string, unknown>;
    jobs: Record<string, Job>;
}

function loadWorkflows(): Map<string, Workflow> {
    const files = fs
        .readdirSync(WORKFLOWS_DIR)
        .filter((f) => /\.ya?ml$/.test(f))
        .sort();
    return new Map(files.map((f) => [f, YAML.parse(fs.readFileSync(path.join(WORKFLOWS_DIR, f), "utf8")) as Workflow]));
}

const copy = <T>(x: T): T => structuredClone(x);

// --- the subjects ---------------------------------------------------------------------------------

/** The expressions an environment name may hold, as the README writes them. */
const EXPRESSION_PLACEHOLDERS: Record<string, string> = { "matrix.stack": "<name>" };

function placeholders(text: string, where: string): string {
    return text.replace(/\$\{\{\s*([^}]*?)\s*\}\}/g, (_, expr: string) => {
        const p = EXPRESSION_PLACEHOLDERS[expr];
        if (!p) throw new Error(`${where}: environment expression \${{ ${expr} }}: teach this test its placeholder`);
        return p;
    });
}

/** Each event of a workflow's `on:`, with its filters. */
function triggers(wf: Workflow): [string, Record<string, unknown>][] {
    const on = wf.on;
    if (typeof on === "string") return [[on, {}]];
    if (Array.isArray(on)) return on.map((e) => [e, {}]);
    return Object.entries(on).map(([e, v]) => [e, (v ?? {}) as Record<string, unknown>]);
}

/** The refs a push with these filters can come from. */
function pushRefs(where: string, filters: Record<string, unknown>): string[] {
    const branches = filters.branches as string[] | undefined;
    const tags = filters.tags as string[] | undefined;
    const refs: string[] = [];
    const named = (list: string[], prefix: string, any: string) =>
        list.map((b) => (/[*?[\]!+]/.test(b) ? `${prefix}${any}` : `${prefix}${b}`));
    if (branches) refs.push(...named(branches, "ref:refs/heads/", "<branch>"));
    else if (filters["branches-ignore"] || !tags) refs.push("ref:refs/heads/<branch>");
    if (tags) refs.push(...named(tags, "ref:refs/tags/", "<tag>"));
    else if (filters["tags-ignore"] || !branches) refs.push("ref:refs/tags/<tag>");
    if (!refs.length) throw new Error(`${where}: push with no ref`);
    return [...new Set(refs)];
}

/** The subjects (less `repo:<owner>/<repo>:`) of the tokens GitHub gives this job, one per trigger. */
function subjectsOf(file: string, wf: Workflow, jobId: string): string[] {
    const job = wf.jobs[jobId];
    const where = `${file}: ${jobId}`;
    const env = typeof job.environment === "string" ? job.environment : job.environment?.name;
    // The environment, when the job names one, whatever the event.
    if (env !== undefined) return [`environment:${placeholders(env, where)}`];
    const subjects = new Set<string>();
    for (const [event, filters] of triggers(wf)) {
        switch (event) {
            case "pull_request":
                subjects.add("pull_request");
                break;
            case "push":
                for (const r of pushRefs(where, filters)) subjects.add(r);
                break;
            case "workflow_dispatch":
                // Run from whichever branch the person picks.
                subjects.add("ref:refs/heads/<branch>");
                break;
            default:
                throw new Error(`${where}: trigger ${event}: teach this test the subject GitHub gives it`);
        }
    }
    return [...subjects];
}

/** Whether a job logs into Azure: azure/login, or `az login` in a script. */
function logsIntoAzure(job: Job): boolean {
    return (job.steps ?? []).some(
        (s) => /^azure\/login@/i.test(s.uses ?? "") || /(^|[\s;&|(])az\s+login\b/.test(s.run ?? ""),
    );
}

interface Credential {
    subject: string;
    usedBy: Set<string>; // "file: job"
}

/** The README's one table of federated credentials. */
function readmeCredentials(readme: string): { credentials: Credential[]; tableLines: Set<number> } {
    const lines = readme.split("\n");
    const start = lines.findIndex((l) => l.trim() === CREDENTIALS_HEADING);
    assert.ok(start >= 0, `README.md has no section "${CREDENTIALS_HEADING}"`);
    let i = start + 1;
    while (i < lines.length && !lines[i].startsWith("|")) {
        assert.ok(!/^#/.test(lines[i]), `README.md: no table under "${CREDENTIALS_HEADING}"`);
        i++;
    }
    const header = lines[i]
        .split("|")
        .slice(1, -1)
        .map((c) => c.trim());
    assert.deepEqual(header, ["subject", "used by", "why"], "the credentials table's columns");
    const tableLines = new Set<number>([i, i + 1]);
    const credentials: Credential[] = [];
    for (i += 2; i < lines.length && lines[i].startsWith("|"); i++) {
        tableLines.add(i);
        const [subjectCell, usedByCell] = lines[i]
            .split("|")
            .slice(1, -1)
            .map((c) => c.trim());
        const subject = /^`([^`]+)`$/.exec(subjectCell)?.[1];
        assert.ok(subject?.startsWith(SUBJECT_PREFIX), `README.md line ${i + 1}: subject ${subjectCell}`);
        const usedBy = new Set<string>();
        for (const part of usedByCell.split(";")) {
            const spans = [...part.matchAll(/`([^`]+)`/g)].map((m) => m[1]);
            assert.ok(spans.length >= 2 && /\.ya?ml$/.test(spans[0]), `README.md line ${i + 1}: used by "${part}"`);
            for (const job of spans.slice(1)) usedBy.add(`${spans[0]}: ${job}`);
        }
        credentials.push({ subject: subject!.slice(SUBJECT_PREFIX.length), usedBy });
    }
    return { credentials, tableLines };
}

/** Every subject a job that logs into Azure would present and the table lacks, and every table line no job uses. */
function credentialProblems(workflows: Map<string, Workflow>, credentials: Credential[]): string[] {
    const problems: string[] = [];
    const users = new Map<string, Set<string>>();
    for (const [file, wf] of workflows) {
        for (const [jobId, job] of Object.entries(wf.jobs)) {
            if (job.uses) throw new Error(`${file}: ${jobId} calls a reusable workflow: teach this test its jobs`);
            if (!logsIntoAzure(job)) continue;
            for (const subject of subjectsOf(file, wf, jobId)) {
                if (!users.has(subject)) users.set(subject, new Set());
                users.get(subject)!.add(`${file}: ${jobId}`);
                if (!credentials.some((c) => c.subject === subject))
                    problems.push(
                        `${file}: ${jobId} logs into Azure as ${SUBJECT_PREFIX}${subject}: not in the README`,
                    );
            }
        }
    }
    for (const c of credentials) {
        const used = [...(users.get(c.subject) ?? [])].sort();
        const listed = [...c.usedBy].sort();
        if (used.join(", ") !== listed.join(", "))
            problems.push(
                `README's ${SUBJECT_PREFIX}${c.subject}: used by [${used.join(", ")}], the README says [${listed.join(", ")}]`,
            );
    }
    return problems;
}

/** The jobs that log into Azure, with their subjects for a test's title; nothing when the workflows cannot be read (the tests then say why). */
function azureJobsForTitles(): { file: string; jobId: string; title: string }[] {
    try {
        return [...loadWorkflows()].flatMap(([file, wf]) =>
            Object.entries(wf.jobs)
                .filter(([, job]) => logsIntoAzure(job))
                .map(([jobId]) => {
                    let title: string;
                    try {
                        title = subjectsOf(file, wf, jobId).join(", ");
                    } catch (e) {
                        title = String(e);
                    }
                    return { file, jobId, title };
                }),
        );
    } catch {
        return [];
    }
}

describe("workflows: the OIDC subjects Azure sees are the federated credentials the README lists", () => {
    // Read in hooks and tests, never while mocha collects the tests: a throw there would stop the whole suite.
    let workflows: Map<string, Workflow>;
    before(() => (workflows = loadWorkflows()));
    const readme = () => fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
    const table = () => readmeCredentials(readme());

    it("GitHub's subject rule, on the shapes of trigger and environment the workflows use", () => {
        const wf = (on: Workflow["on"], environment?: Job["environment"]): Workflow => ({
            on,
            jobs: { j: { environment, steps: [{ uses: "azure/login@v3" }] } },
        });
        assert.deepEqual(subjectsOf("w", wf({ pull_request: null }), "j"), ["pull_request"]);
        assert.deepEqual(subjectsOf("w", wf("pull_request"), "j"), ["pull_request"]);
        assert.deepEqual(subjectsOf("w", wf({ push: { branches: ["main"] } }), "j"), ["ref:refs/heads/main"]);
        assert.deepEqual(subjectsOf("w", wf({ push: { branches: ["release/*"] } }), "j"), ["ref:refs/heads/<branch>"]);
        assert.deepEqual(subjectsOf("w", wf({ push: { tags: ["v*"] } }), "j"), ["ref:refs/tags/<tag>"]);
        assert.deepEqual(subjectsOf("w", wf({ push: null }), "j"), ["ref:refs/heads/<branch>", "ref:refs/tags/<tag>"]);
        assert.deepEqual(subjectsOf("w", wf(["workflow_dispatch"]), "j"), ["ref:refs/heads/<branch>"]);
        // The environment wins over every event, as a string or as {name, url}.
        assert.deepEqual(subjectsOf("w", wf(["pull_request", "workflow_dispatch"], "e2e"), "j"), ["environment:e2e"]);
        assert.deepEqual(subjectsOf("w", wf({ push: null }, { name: "stack-${{ matrix.stack }}", url: "u" }), "j"), [
            "environment:stack-<name>",
        ]);
        assert.throws(() => subjectsOf("w", wf({ schedule: [{ cron: "0 0 * * *" }] }), "j"), /teach this test/);
        assert.throws(() => subjectsOf("w", wf("push", "${{ inputs.env }}"), "j"), /teach this test/);
    });

    it("finds the jobs that log into Azure: azure/login, or `az login` in a script", () => {
        assert.ok(logsIntoAzure({ steps: [{ uses: "Azure/login@v3" }] }));
        assert.ok(logsIntoAzure({ steps: [{ run: "set -e\naz login --service-principal --federated-token $T" }] }));
        assert.ok(!logsIntoAzure({ steps: [{ run: "az group list" }, { uses: "azure/setup-helm@v5" }] }));
        const found = [...workflows].flatMap(([file, wf]) =>
            Object.entries(wf.jobs)
                .filter(([, job]) => logsIntoAzure(job))
                .map(([id]) => `${file}: ${id}`),
        );
        // Not a list to keep in step with the workflows: only that the three workflows that log into Azure are seen to.
        for (const file of ["ephemeral-aks.yml", "promote.yml", "pull-request.yml"])
            assert.ok(
                found.some((f) => f.startsWith(`${file}:`)),
                `${file} has a job that logs into Azure: ${found}`,
            );
    });

    for (const { file, jobId, title } of azureJobsForTitles())
        it(`${file}: ${jobId} (${title}): each subject a credential the README lists`, () => {
            for (const subject of subjectsOf(file, workflows.get(file)!, jobId))
                assert.ok(
                    table().credentials.some((c) => c.subject === subject),
                    `${SUBJECT_PREFIX}${subject} (${file}: ${jobId}) is not in the README's table: ${table().credentials.map((c) => c.subject)}`,
                );
        });

    it("the README's table is exact: every line used, by the jobs its 'used by' names", () =>
        assert.deepEqual(credentialProblems(workflows, table().credentials), []));

    it("the README lists them in that one place: no subject elsewhere in it", () => {
        const { tableLines } = table();
        const elsewhere = readme()
            .split("\n")
            .map((l, i) => ({ l, i }))
            .filter(({ l, i }) => !tableLines.has(i) && /repo:<owner>\/<repo>:|:environment:|:pull_request\b/.test(l))
            .map(({ l, i }) => `line ${i + 1}: ${l.slice(0, 100)}`);
        assert.deepEqual(elsewhere, []);
    });

    describe("control cases: altered copies of the workflows are caught", () => {
        const caught = (alter: (w: Map<string, Workflow>) => void, expected: RegExp) => {
            const altered = copy(workflows);
            alter(altered);
            const problems = credentialProblems(altered, table().credentials);
            assert.ok(
                problems.some((p) => expected.test(p)),
                `expected a problem matching ${expected}, got: ${JSON.stringify(problems)}`,
            );
        };
        const job = (w: Map<string, Workflow>, file: string, id: string) => {
            const j = w.get(file)?.jobs[id];
            assert.ok(j, `${file} has a job ${id}`);
            return j!;
        };
        const on = (w: Map<string, Workflow>, file: string) => {
            const wf = w.get(file)!;
            wf.on = Object.fromEntries(triggers(wf));
            return wf.on as Record<string, unknown>;
        };

        it("promote.yml's preview without its environment (as on main before): a push to main is ref:refs/heads/main", () =>
            caught(
                (w) => delete job(w, "promote.yml", "preview").environment,
                /promote\.yml: preview logs into Azure as repo:<owner>\/<repo>:ref:refs\/heads\/main: not in the README/,
            ));
        it("promote.yml's up without its environment: by hand, any branch", () =>
            caught(
                (w) => delete job(w, "promote.yml", "up").environment,
                /promote\.yml: up logs into Azure as .*ref:refs\/heads\/<branch>/,
            ));
        it("ephemeral-aks.yml's walk without its environment: by hand, ref:refs/heads/<branch>", () =>
            caught(
                (w) => delete job(w, "ephemeral-aks.yml", "walk").environment,
                /ephemeral-aks\.yml: walk logs into Azure as .*ref:refs\/heads\/<branch>/,
            ));
        it("ephemeral-aks.yml's closed job without its environment: pull_request, which the README gives to another job", () =>
            caught(
                (w) => delete job(w, "ephemeral-aks.yml", "closed").environment,
                /:pull_request: used by \[.*ephemeral-aks\.yml: closed.*\], the README says \[pull-request\.yml: preview\]/,
            ));
        it("an environment renamed", () =>
            caught(
                (w) => (job(w, "promote.yml", "up").environment = "production-${{ matrix.stack }}"),
                /environment:production-<name>: not in the README/,
            ));
        it("a trigger added: pull-request.yml run by hand", () =>
            caught(
                (w) => (on(w, "pull-request.yml").workflow_dispatch = null),
                /pull-request\.yml: preview logs into Azure as .*ref:refs\/heads\/<branch>/,
            ));
        it("a trigger added: pull-request.yml on a push to main", () =>
            caught(
                (w) => (on(w, "pull-request.yml").push = { branches: ["main"] }),
                /pull-request\.yml: preview logs into Azure as .*ref:refs\/heads\/main/,
            ));
        it("a job that logs in with `az login` in a script rather than azure/login", () =>
            caught((w) => {
                on(w, "ephemeral-kind.yml").workflow_dispatch = null;
                job(w, "ephemeral-kind.yml", "walk").steps!.push({
                    run: 'az login --service-principal -u "$ID" -t "$TENANT" --federated-token "$TOKEN"',
                });
            }, /ephemeral-kind\.yml: walk logs into Azure as .*ref:refs\/heads\/<branch>: not in the README/));
        it("a line of the README no job uses any more", () =>
            caught((w) => {
                const steps = job(w, "promote.yml", "up").steps!;
                job(w, "promote.yml", "up").steps = steps.filter((s) => !/azure\/login/.test(s.uses ?? ""));
            }, /environment:stack-<name>: used by \[\], the README says \[promote\.yml: up\]/));
    });
});

// --- the clean-up's fresh login -------------------------------------------------------------------

/** Steps that run the ephemeral AKS clean-up without an azure/login right before them. */
function cleanupsWithoutFreshLogin(workflows: Map<string, Workflow>): string[] {
    const problems: string[] = [];
    for (const [file, wf] of workflows)
        for (const [jobId, job] of Object.entries(wf.jobs))
            (job.steps ?? []).forEach((step, i) => {
                if (!/ephemeral-aks-cleanup\.sh/.test(step.run ?? "")) return;
                const before = job.steps![i - 1];
                const where = `${file}: ${jobId}: "${step.name ?? step.run}"`;
                if (!/^azure\/login@/i.test(before?.uses ?? ""))
                    problems.push(`${where}: no azure/login right before it`);
                else if ((before.if ?? "") !== (step.if ?? ""))
                    problems.push(
                        `${where}: runs if ${step.if ?? "the job is well"}, its login if ${before.if ?? "well"}`,
                    );
            });
    return problems;
}

describe("workflows: the ephemeral AKS clean-up logs into Azure again right before it runs", () => {
    let workflows: Map<string, Workflow>;
    before(() => (workflows = loadWorkflows()));

    it("every step that runs .github/ephemeral-aks-cleanup.sh comes right after an azure/login, under the same condition", () => {
        const cleanups = [...workflows.values()].flatMap((wf) =>
            Object.values(wf.jobs).flatMap((j) =>
                (j.steps ?? []).filter((s) => /ephemeral-aks-cleanup/.test(s.run ?? "")),
            ),
        );
        assert.equal(cleanups.length, 3, "the walk's leftovers and final clean-up, and the closed job's");
        assert.deepEqual(cleanupsWithoutFreshLogin(workflows), []);
    });

    it("control: without the second login (as on main before), the final clean-up is caught", () => {
        const altered = copy(workflows);
        const walk = altered.get("ephemeral-aks.yml")!.jobs.walk;
        const last = walk.steps!.length - 1;
        walk.steps!.splice(last - 1, 1);
        assert.match(
            cleanupsWithoutFreshLogin(altered).join("\n"),
            /walk: "Destroy and remove everything": no azure\/login/,
        );
    });

    it("control: a second login that does not run when the walk failed is caught", () => {
        const altered = copy(workflows);
        const walk = altered.get("ephemeral-aks.yml")!.jobs.walk;
        delete walk.steps![walk.steps!.length - 2].if;
        assert.match(cleanupsWithoutFreshLogin(altered).join("\n"), /runs if always\(\), its login if well/);
    });
});

// --- Istio's charts for GitHub's npm test job -----------------------------------------------------

const CHARTS_SCRIPT = path.join(ROOT, ".github", "istio-charts.sh");
const LIVE_REPOSITORY = "https://blob.istio.io/istio-release/charts";

/** A stand-in `helm`: records its calls; `pull` writes <chart>-<version>.tgz, `repo index` an index like helm's. */
const FAKE_HELM = `#!/usr/bin/env bash
set -euo pipefail
printf 'helm %s\\n' "$*" >>"$FAKE_LOG"
if [ "$1" = pull ]; then
  chart=$2; shift 2; version=""; dest=.
  while [ $# -gt 0 ]; do
    case "$1" in --version) version=$2; shift ;; --destination|-d) dest=$2; shift ;; esac
    shift
  done
  [ "\${FAKE_PULL:-ok}" = none ] || printf 'chart' >"$dest/$chart-$version.tgz"
elif [ "$1 $2" = "repo index" ]; then
  {
    echo "apiVersion: v1"
    echo "entries:"
    for f in "$3"/*.tgz; do
      base=$(basename "$f" .tgz); chart=\${base%-*}; version=\${base##*-}
      echo "  $chart:"
      echo "  - apiVersion: v2"
      echo "    name: $chart"
      echo "    sources:"
      echo "    - https://github.com/istio/istio"
      echo "    urls:"
      if [ "\${FAKE_INDEX:-relative}" = absolute ]; then echo "    - https://example.invalid/$base.tgz"; else echo "    - $base.tgz"; fi
      echo "    version: $version"
    done
  } >"$3/index.yaml"
fi
`;

interface ChartsRun {
    status: number | null;
    out: string;
    calls: string[];
    githubEnv: string;
    dir: string;
}

/** Runs .github/istio-charts.sh (from a copy of the repository's root with this Pulumi.yaml) against the stand-in helm. */
function runChartsScript(pulumiYaml: string, env: Record<string, string> = {}): ChartsRun {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "istio-charts-"));
    try {
        fs.mkdirSync(path.join(tmp, "repo", ".github"), { recursive: true });
        fs.mkdirSync(path.join(tmp, "bin"));
        fs.copyFileSync(CHARTS_SCRIPT, path.join(tmp, "repo", ".github", "istio-charts.sh"));
        fs.writeFileSync(path.join(tmp, "repo", "Pulumi.yaml"), pulumiYaml);
        fs.writeFileSync(path.join(tmp, "bin", "helm"), FAKE_HELM, { mode: 0o755 });
        const dir = path.join(tmp, "charts");
        const githubEnv = path.join(tmp, "github-env");
        const r = spawnSync("bash", [path.join(tmp, "repo", ".github", "istio-charts.sh"), dir], {
            encoding: "utf8",
            env: {
                ...process.env,
                PATH: `${path.join(tmp, "bin")}:${process.env.PATH}`,
                FAKE_LOG: path.join(tmp, "calls"),
                GITHUB_ENV: githubEnv,
                ...env,
            },
        });
        const read = (f: string) => (fs.existsSync(f) ? fs.readFileSync(f, "utf8") : "");
        return {
            status: r.status,
            out: r.stdout + r.stderr,
            calls: read(path.join(tmp, "calls")).split("\n").filter(Boolean),
            githubEnv: read(githubEnv),
            dir,
        };
    } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
    }
}

describe("workflows: GitHub's npm test job gets Istio's charts from Istio's live repository", () => {
    let pulumiYaml: string;
    let defaultVersion: string;
    let job: Job;
    let steps: Step[];
    before(() => {
        pulumiYaml = fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8");
        defaultVersion = String(YAML.parse(pulumiYaml).config["istio.version"].default);
        job = loadWorkflows().get("pull-request.yml")!.jobs["npm-test"];
        steps = job.steps ?? [];
    });

    it("the npm-test job pulls them (with helm set up first) before .ci/run, which then sees E2E_ISTIO_CHARTS", () => {
        const charts = steps.findIndex((s) =>
            /bash \.github\/istio-charts\.sh "\$RUNNER_TEMP\/[^"]+"/.test(s.run ?? ""),
        );
        const helm = steps.findIndex((s) => /^azure\/setup-helm@/.test(s.uses ?? ""));
        const ciRun = steps.findIndex((s) => /bash \.ci\/run/.test(s.run ?? ""));
        assert.ok(charts >= 0, "a step runs .github/istio-charts.sh into a folder under $RUNNER_TEMP");
        assert.ok(helm >= 0 && helm < charts, "helm is set up before it (the job's Debian container has none)");
        assert.ok(ciRun > charts, ".ci/run comes after it");
        assert.ok(!steps[charts].if, "it runs whenever .ci/run would");
    });

    it("the job has time for a cold .ci/run with the walk on Istio (about 47 minutes on the project's machine)", () =>
        assert.ok((job["timeout-minutes"] ?? 360) >= 75, `timeout-minutes ${job["timeout-minutes"]}`));

    it(`pulls base, istiod and gateway at Pulumi.yaml's istio.version default from ${LIVE_REPOSITORY}, indexes them, exports E2E_ISTIO_CHARTS`, () => {
        const r = runChartsScript(pulumiYaml);
        assert.equal(r.status, 0, r.out);
        assert.deepEqual(r.calls, [
            ...["base", "istiod", "gateway"].map(
                (c) => `helm pull ${c} --repo ${LIVE_REPOSITORY} --version ${defaultVersion} --destination ${r.dir}`,
            ),
            `helm repo index ${r.dir}`,
        ]);
        assert.equal(r.githubEnv, `E2E_ISTIO_CHARTS=${r.dir}\n`);
    });

    /** Pulumi.yaml with istio.version's default node changed, and the whole file written out again by the yaml package. */
    const edited = (edit: (doc: YAML.Document) => void) => {
        const doc = YAML.parseDocument(pulumiYaml);
        edit(doc);
        return String(doc);
    };
    const VERSION = ["config", "istio.version", "default"];

    it("reads istio.version's default as a YAML parser does: quoted, commented, the file written out by another hand", () => {
        const variants = [
            pulumiYaml,
            edited((doc) => {
                const v = doc.getIn(VERSION, true) as YAML.Scalar;
                v.type = "QUOTE_DOUBLE";
                v.comment = " the default";
            }),
            edited((doc) => {
                const v = doc.getIn(VERSION, true) as YAML.Scalar;
                v.value = "1.29.9";
                v.type = "QUOTE_SINGLE";
            }),
            edited((doc) => doc.setIn(VERSION, "1.32.0-beta.1")),
            "name: x\nconfig:\n  istio.install:\n    default: true\n  istio.version:\n    type: string\n    description: v\n    default: 1.30.9\n",
        ];
        for (const text of variants) {
            const expected = String(YAML.parse(text).config["istio.version"].default);
            const r = runChartsScript(text);
            assert.equal(r.status, 0, r.out);
            assert.equal(
                r.calls[0],
                `helm pull base --repo ${LIVE_REPOSITORY} --version ${expected} --destination ${r.dir}`,
            );
        }
    });

    it("control: no default for istio.version, a pull that brings nothing, or an index with absolute URLs: it fails, exporting nothing", () => {
        for (const text of [
            edited((doc) => doc.deleteIn(VERSION)),
            edited((doc) => doc.deleteIn(VERSION.slice(0, 2))),
            edited((doc) => doc.setIn(VERSION, "latest")),
        ]) {
            const noVersion = runChartsScript(text);
            assert.notEqual(noVersion.status, 0);
            assert.match(noVersion.out, /no istio\.version default/);
            assert.deepEqual(noVersion.calls, []);
        }
        const nothing = runChartsScript(pulumiYaml, { FAKE_PULL: "none" });
        assert.notEqual(nothing.status, 0);
        assert.equal(nothing.githubEnv, "");
        const absolute = runChartsScript(pulumiYaml, { FAKE_INDEX: "absolute" });
        assert.notEqual(absolute.status, 0);
        assert.match(absolute.out, /lists the URLs \[https:\/\/example\.invalid/);
        assert.equal(absolute.githubEnv, "");
    });
});

/**
 * A Pulumi step that runs with debug output: the engine then prints the SDK's debug messages,
 * one of which carries the MySQL Secret's data in base64 (the SDK logs each RegisterResource
 * response; test/secrets.test.ts, e2e/secrets.e2e.ts). Each step as `where: why`.
 */
function debugPulumiSteps(workflows: Map<string, Workflow>): string[] {
    const found: string[] = [];
    for (const [file, wf] of workflows)
        for (const [jobId, job] of Object.entries(wf.jobs ?? {}))
            for (const [i, step] of ((job as any).steps ?? []).entries()) {
                const where = `${file}: ${jobId}, step ${i + 1} (${step.name ?? step.uses ?? "run"})`;
                const withs = step.with ?? {};
                if (/^pulumi\/actions@/.test(step.uses ?? "") && ["debug", "log-verbosity"].some((k) => k in withs))
                    found.push(
                        `${where}: pulumi/actions with ${Object.keys(withs)
                            .filter((k) => ["debug", "log-verbosity"].includes(k))
                            .join(", ")}`,
                    );
                if (/\bpulumi\b[^\n]*(--debug|--verbose|-v=?\d|--logtostderr)/.test(step.run ?? ""))
                    found.push(`${where}: pulumi run with debug or verbose logging`);
                if (
                    Object.keys({ ...(job as any).env, ...step.env }).some((k) =>
                        /^(PULUMI_DEBUG|TF_LOG|PULUMI_DEBUG_COMMANDS)$/.test(k),
                    )
                )
                    found.push(`${where}: a debug variable in its environment`);
            }
    return found;
}

describe("workflows: no Pulumi step prints debug messages (one carries the Secret's data)", () => {
    it("no pulumi/actions step with debug or log-verbosity, no pulumi --debug/--verbose in a script", () =>
        assert.deepEqual(debugPulumiSteps(loadWorkflows()), []));

    it("control: pull-request.yml's preview with debug: true is caught", () => {
        const workflows = loadWorkflows();
        const wf = copy(workflows.get("pull-request.yml")!);
        const step = Object.values(wf.jobs)
            .flatMap((job: any) => job.steps ?? [])
            .find((s: any) => /^pulumi\/actions@/.test(s.uses ?? ""));
        assert.ok(step, "pull-request.yml has a pulumi/actions step");
        step.with = { ...step.with, debug: true };
        workflows.set("pull-request.yml", wf);
        assert.equal(debugPulumiSteps(workflows).length, 1);
    });
});
