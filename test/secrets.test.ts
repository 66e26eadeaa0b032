/**
 * Secrets stay secret in what the project's own commands print: `render` and `plan`, run as users
 * run them (`npm run --silent render|plan -- ...`), never show the MySQL passwords given as
 * settings, in plain text or in any form they could leak as (test/support/secretScan.ts: base64 as
 * in a Secret's `data`, JSON-escaped, hex, ...), at the stages with MySQL and across the
 * transitions into and out of them; nor the passwords the program generates when none is given.
 * Each check has its control: the scan finds each form where it is planted, and the passwords are
 * where render and plan read from (the Secret the program registers), so their absence from the
 * output is the commands' doing. The state file, the pull-request preview and the engine's logs are
 * e2e/secrets.e2e.ts's; the logs every suite writes, scripts/test.sh's last step.
 */
import { strict as assert } from "assert";
import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as zlib from "zlib";
import * as YAML from "yaml";
import { redact, toYaml } from "../cmd/render";
import { planSide } from "../cmd/plan";
import { appObjects, KubernetesObject, ProgramRun, runProgram } from "../mock/runProgram";
import { PROJECT } from "../stages/names";
import {
    assertNoLeak,
    controlMisses,
    describeLeaks,
    findLeaks,
    MIN_SECRET_LENGTH,
    redactSecrets,
    secretForms,
    stripAnsi,
    TEST_SECRETS,
} from "./support/secretScan";

const ROOT = path.resolve(__dirname, "..");

/** The passwords this file gives render and plan: distinctive, and listed in TEST_SECRETS for the log scan. */
const PASSWORDS = {
    mysqlPassword: TEST_SECRETS["unit secrets mysqlPassword"],
    mysqlRootPassword: TEST_SECRETS["unit secrets mysqlRootPassword"],
};
const GENERATED = {
    "mysql-password": TEST_SECRETS["mock generated mysql-password"],
    "mysql-root-password": TEST_SECRETS["mock generated mysql-root-password"],
};
const asConfig = (secrets: Record<string, string>) =>
    Object.entries(secrets).flatMap(([k, v]) => ["--config", `${k}=${v}`]);

interface Result {
    status: number;
    stdout: string;
    stderr: string;
}

/** `npm run --silent <script> -- <args>`, the README's commands as users type them. */
function npmRun(script: string, ...args: string[]): Promise<Result> {
    return new Promise((resolve) => {
        execFile(
            "npm",
            ["run", "--silent", script, "--", ...args],
            { cwd: ROOT, encoding: "utf8", env: { ...process.env, npm_config_loglevel: "error" } },
            (err, stdout, stderr) =>
                resolve({ status: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr }),
        );
    });
}

/** Runs the commands, at most three at a time (each is a Node process running the program under mocks). */
async function runAll(commands: { script: string; args: string[] }[]): Promise<Result[]> {
    const results: Result[] = new Array(commands.length);
    let next = 0;
    const worker = async () => {
        for (let i = next++; i < commands.length; i = next++)
            results[i] = await npmRun(commands[i].script, ...commands[i].args);
    };
    await Promise.all([worker(), worker(), worker()]);
    return results;
}

const secretOf = (run: ProgramRun) =>
    run.resources.find((r) => r.type === "kubernetes:core/v1:Secret" && r.name === "voting-storage-secret");

describe("secrets stay secret: the scan", () => {
    it("finds each secret in every form it knows, planted in other text (the control every other check relies on)", () => {
        assert.deepEqual(controlMisses(TEST_SECRETS), []);
        assert.deepEqual(controlMisses(PASSWORDS), []);
    });

    it("finds the base64 a Kubernetes Secret's data holds, in YAML, in JSON and inside a base64-encoded manifest", () => {
        const secret = {
            apiVersion: "v1",
            kind: "Secret",
            metadata: { name: "voting-storage-secret" },
            data: { MYSQL_PASSWORD: Buffer.from(PASSWORDS.mysqlPassword).toString("base64") },
        };
        for (const [how, text] of [
            ["YAML", YAML.stringify(secret)],
            ["JSON", JSON.stringify(secret)],
            ["a manifest as base64", Buffer.from(JSON.stringify(secret)).toString("base64")],
            ["JSON in a JSON string", JSON.stringify({ manifest: JSON.stringify(secret) })],
        ]) {
            const leaks = findLeaks(text, PASSWORDS);
            assert.deepEqual(
                leaks.map((l) => l.name),
                ["mysqlPassword"],
                `${how}: ${describeLeaks(how, leaks)}`,
            );
            assert.match(leaks[0].form, /base64/, how);
        }
        // The plain value in the stringData form, JSON-escaped inside JSON, and coloured.
        const stringData = YAML.stringify({ stringData: { MYSQL_ROOT_PASSWORD: PASSWORDS.mysqlRootPassword } });
        assert.deepEqual(
            findLeaks(stringData, PASSWORDS).map((l) => `${l.name} ${l.form}`),
            ["mysqlRootPassword plain"],
        );
        const coloured = `\x1b[32m+ ${PASSWORDS.mysqlPassword.slice(0, 5)}\x1b[0m${PASSWORDS.mysqlPassword.slice(5)}`;
        assert.deepEqual(
            findLeaks(coloured, PASSWORDS).map((l) => `${l.name} ${l.ansiStripped}`),
            ["mysqlPassword true"],
            "a value split by colour codes is found once they are removed",
        );
        assert.equal(stripAnsi(coloured), `+ ${PASSWORDS.mysqlPassword}`);
    });

    it("finds nothing where there is nothing, and never prints a value in its reports", () => {
        const clean = YAML.stringify({ stringData: { MYSQL_PASSWORD: "<redacted>" }, note: "e2e-app-password" });
        assert.deepEqual(findLeaks(clean, TEST_SECRETS), []);
        const leaky = [
            PASSWORDS.mysqlPassword,
            Buffer.from(PASSWORDS.mysqlRootPassword).toString("base64"),
            Buffer.from(PASSWORDS.mysqlPassword).toString("hex"),
        ].join(" | ");
        const report = describeLeaks("leaky.txt", findLeaks(leaky, PASSWORDS));
        assert.equal(report.split("\n").length, 3, "one line per place");
        assert.deepEqual(findLeaks(report, PASSWORDS), [], "the report itself leaks");
        assert.deepEqual(findLeaks(redactSecrets(leaky, PASSWORDS), PASSWORDS), []);
        assert.throws(
            () => assertNoLeak("leaky.txt", leaky, PASSWORDS),
            (err: Error) => {
                assert.deepEqual(findLeaks(err.message, PASSWORDS), [], "the error message leaks");
                return /leaky\.txt: mysqlPassword as plain/.test(err.message);
            },
        );
        assert.throws(() => secretForms("x".repeat(MIN_SECRET_LENGTH - 1)), /too short/);
        // A value that an excerpt's edge would cut does not show in part: no 8 characters of any
        // form of it are in the report.
        const edge = `${Buffer.from(PASSWORDS.mysqlRootPassword).toString("base64")}${"x".repeat(9)}${PASSWORDS.mysqlPassword}`;
        const edgeReport = describeLeaks("edge.txt", findLeaks(edge, PASSWORDS));
        const pieces = Object.values(PASSWORDS).flatMap((v) =>
            secretForms(v).flatMap((f) => [...Array(f.needle.length - 7).keys()].map((i) => f.needle.slice(i, i + 8))),
        );
        assert.deepEqual(pieces.filter((p) => edgeReport.includes(p)).length, 0, "a part of a value in the report");
    });

    it("its list of the tests' secret values holds every password the tests give as secret config", () => {
        const literals = new Map<string, string>();
        for (const dir of ["test", "e2e"])
            for (const file of fs.readdirSync(path.join(ROOT, dir), { recursive: true }) as string[]) {
                if (!file.endsWith(".ts")) continue;
                const text = fs.readFileSync(path.join(ROOT, dir, file), "utf8");
                for (const m of text.matchAll(/mysql(?:Root)?Password"?[ \t]*:[ \t]*"([^"\n]+)"/g))
                    literals.set(m[1], `${dir}/${file}`);
            }
        // Control: the search sees the walk's passwords.
        assert.ok(
            literals.has("e2e-app-password-0123") && literals.has("e2e-root-password-0123"),
            [...literals.keys()].join(),
        );
        const known = new Set(Object.values(TEST_SECRETS));
        assert.deepEqual(
            [...literals].filter(([value]) => !known.has(value)).map(([, file]) => file),
            [],
            "password literals missing from TEST_SECRETS (test/support/secretScan.ts), in these files",
        );
    });
});

describe("secrets stay secret: the log scan npm test ends with (secretScan.ts PATH...)", function () {
    this.timeout(60000);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "secret-scan-"));
    after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const scan = (...paths: string[]) =>
        new Promise<Result>((resolve) =>
            execFile(
                process.execPath,
                ["-r", "ts-node/register/transpile-only", "test/support/secretScan.ts", ...paths],
                { cwd: ROOT, encoding: "utf8" },
                (err, stdout, stderr) =>
                    resolve({ status: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr }),
            ),
        );

    it("passes clean logs, fails (naming the file, the value's name and its form, never the value) a log holding one in any form", async () => {
        const clean = path.join(dir, "clean");
        fs.mkdirSync(path.join(clean, "nested"), { recursive: true });
        fs.writeFileSync(path.join(clean, "unit.log"), "  9 passing (15s)\n");
        fs.writeFileSync(path.join(clean, "nested", "e2e.log.gz"), zlib.gzipSync("e2e: stage walk 400 s\n"));
        const ok = await scan(clean);
        assert.equal(ok.status, 0, ok.stdout + ok.stderr);
        assert.match(
            ok.stdout,
            /secret-scan: 2 file\(s\) \(e2e\.log\.gz, unit\.log\)/,
            "both read, the nested one unzipped",
        );

        const walkPassword = TEST_SECRETS["e2e walk mysqlPassword"];
        const leaky = path.join(dir, "leaky");
        fs.mkdirSync(leaky);
        fs.writeFileSync(
            path.join(leaky, "e2e.log"),
            `data:\n  MYSQL_PASSWORD: ${Buffer.from(walkPassword).toString("base64")}\n`,
        );
        fs.writeFileSync(
            path.join(leaky, "app.log.gz"),
            zlib.gzipSync(`debug: ${TEST_SECRETS["carry mysqlRootPassword"]}\n`),
        );
        const caught = await scan(leaky);
        assert.equal(caught.status, 1, caught.stdout + caught.stderr);
        assert.match(caught.stdout, /e2e\.log: e2e walk mysqlPassword as base64/);
        assert.match(caught.stdout, /app\.log\.gz: carry mysqlRootPassword as plain/);
        assert.match(caught.stdout, /a test secret in 2 of 2 file\(s\)/);
        assert.deepEqual(findLeaks(caught.stdout + caught.stderr, TEST_SECRETS), [], "the scan's report leaks");
    });

    it("fails when there is nothing to scan or a path is not there", async () => {
        const empty = path.join(dir, "empty");
        fs.mkdirSync(empty);
        assert.equal((await scan(empty)).status, 1);
        assert.equal((await scan(path.join(dir, "missing"))).status, 2);
        assert.equal((await scan()).status, 2);
    });
});

describe("secrets stay secret: render and plan, as users run them, with the passwords set", function () {
    this.timeout(120000);

    it("the program puts the given passwords into the MySQL Secret as secrets, and generates secret ones when none is given (the controls: render and plan read from there)", async () => {
        const given = await runProgram({ stage: "canary" }, PASSWORDS);
        const secret = secretOf(given)!;
        assert.equal(secret.inputs.stringData.MYSQL_PASSWORD, PASSWORDS.mysqlPassword);
        assert.equal(secret.inputs.stringData.MYSQL_ROOT_PASSWORD, PASSWORDS.mysqlRootPassword);
        assert.ok(secret.secretInputs.includes("stringData"), "stringData is sent as a secret");
        // Given as plain settings (render's and plan's --config), they are secrets all the same:
        // the program reads them with getSecret.
        const plain = secretOf(await runProgram({ stage: "canary", ...PASSWORDS }))!;
        assert.equal(plain.inputs.stringData.MYSQL_PASSWORD, PASSWORDS.mysqlPassword);
        assert.ok(plain.secretInputs.includes("stringData"));

        // Generated: each RandomPassword registers with its result as an additional secret output
        // (so the engine encrypts it in the state), and the Secret gets the values, as secrets.
        const registrations: { type: string; name: string; secretOutputs: string[] }[] = [];
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const { MockMonitor } = require("@pulumi/pulumi/runtime/mocks");
        const register = MockMonitor.prototype.registerResource;
        MockMonitor.prototype.registerResource = function (req: any, callback: any) {
            registrations.push({
                type: req.getType(),
                name: req.getName(),
                secretOutputs: req.getAdditionalsecretoutputsList(),
            });
            return register.call(this, req, callback);
        };
        let generated: ProgramRun;
        try {
            generated = await runProgram({ stage: "canary" });
        } finally {
            MockMonitor.prototype.registerResource = register;
        }
        const passwords = registrations.filter((r) => r.type === "random:index/randomPassword:RandomPassword");
        assert.deepEqual(passwords.map((p) => p.name).sort(), Object.keys(GENERATED).sort());
        for (const p of passwords) assert.ok(p.secretOutputs.includes("result"), `${p.name}: ${p.secretOutputs}`);
        // Control of the interception: a resource without additional secret outputs says so.
        assert.deepEqual(registrations.find((r) => r.type === "kubernetes:core/v1:Namespace")?.secretOutputs, []);
        const generatedSecret = secretOf(generated)!;
        assert.equal(generatedSecret.inputs.stringData.MYSQL_PASSWORD, GENERATED["mysql-password"]);
        assert.equal(generatedSecret.inputs.stringData.MYSQL_ROOT_PASSWORD, GENERATED["mysql-root-password"]);
        assert.ok(generatedSecret.secretInputs.includes("stringData"));
        // No stack output carries a password (the kubeconfig output, where there is one, is a secret).
        assert.deepEqual(findLeaks(JSON.stringify(given.outputs), PASSWORDS), []);
        assert.deepEqual(findLeaks(JSON.stringify(generated.outputs), GENERATED), []);
        // Without render's redaction, the objects it prints would hold them: the scan sees that.
        assert.deepEqual(
            findLeaks(YAML.stringify(appObjects(given)), PASSWORDS)
                .map((l) => l.name)
                .sort(),
            ["mysqlPassword", "mysqlRootPassword"],
        );
        assert.deepEqual(findLeaks(toYaml(appObjects(given)), PASSWORDS), []);
        assert.deepEqual(findLeaks(toYaml(appObjects(generated)), GENERATED), []);
    });

    it("render's redaction hides a Secret's values in both forms: stringData, and data's base64", () => {
        const secret: KubernetesObject = {
            apiVersion: "v1",
            kind: "Secret",
            metadata: { name: "s", namespace: "voting" },
            data: { MYSQL_PASSWORD: Buffer.from(PASSWORDS.mysqlPassword).toString("base64") },
            stringData: { MYSQL_ROOT_PASSWORD: PASSWORDS.mysqlRootPassword },
        };
        assert.equal(findLeaks(YAML.stringify(secret), PASSWORDS).length, 2, "control: the object holds both");
        const printed = toYaml([secret]);
        assert.deepEqual(findLeaks(printed, PASSWORDS), []);
        assert.deepEqual(YAML.parse(printed), {
            ...secret,
            data: { MYSQL_PASSWORD: "<redacted>" },
            stringData: { MYSQL_ROOT_PASSWORD: "<redacted>" },
        });
        assert.deepEqual(redact({ ...secret, kind: "ConfigMap" }), { ...secret, kind: "ConfigMap" }, "only Secrets");
    });

    const RENDERS: { what: string; args: string[]; secrets: Record<string, string> }[] = [
        {
            what: "canary at weight 30, Gateway API",
            args: [
                "--stage",
                "canary",
                "--canary-weight",
                "30",
                "--config",
                "traffic.api=gateway-api",
                ...asConfig(PASSWORDS),
            ],
            secrets: PASSWORDS,
        },
        { what: "finalize", args: ["--stage", "finalize", ...asConfig(PASSWORDS)], secrets: PASSWORDS },
        { what: "canary, passwords generated", args: ["--stage", "canary"], secrets: GENERATED },
    ];

    it("render prints every MySQL stage's objects, the Secret among them, without a password in any form", async () => {
        const results = await runAll(RENDERS.map((r) => ({ script: "render", args: r.args })));
        RENDERS.forEach((r, i) => {
            const { status, stdout, stderr } = results[i];
            assert.equal(status, 0, `${r.what}: ${redactSecrets(stderr, r.secrets)}`);
            assertNoLeak(`render (${r.what}), stdout`, stdout, r.secrets);
            assertNoLeak(`render (${r.what}), stderr`, stderr, r.secrets);
            // Control: the Secret holding them is printed, its values redacted.
            const secret = YAML.parseAllDocuments(stdout)
                .map((d) => d.toJS())
                .find((o) => o.kind === "Secret" && o.metadata.name === "voting-storage-secret");
            assert.deepEqual(
                secret?.stringData,
                {
                    MYSQL_DATABASE: "<redacted>",
                    MYSQL_PASSWORD: "<redacted>",
                    MYSQL_ROOT_PASSWORD: "<redacted>",
                    MYSQL_USER: "<redacted>",
                },
                r.what,
            );
        });
    });

    /** The PR workflow's form: each side's settings from a stack file; the passwords in it in plain text (a `pulumi config set` without --secret). */
    const stackFiles = fs.mkdtempSync(path.join(os.tmpdir(), "secrets-plan-"));
    after(() => fs.rmSync(stackFiles, { recursive: true, force: true }));
    const stackFile = (name: string, stage: string) => {
        const file = path.join(stackFiles, `Pulumi.${name}.yaml`);
        const config = Object.fromEntries([
            [`${PROJECT}:stage`, stage],
            ...Object.entries(PASSWORDS).map(([k, v]) => [`${PROJECT}:${k}`, v]),
        ]);
        fs.writeFileSync(file, YAML.stringify({ config }));
        return file;
    };

    const PLANS: { what: string; args: () => string[]; secrets: Record<string, string>; secretStep?: RegExp }[] = [
        {
            what: "lockdown -> canary",
            args: () => ["--from", "lockdown", "--to", "canary", ...asConfig(PASSWORDS)],
            secrets: PASSWORDS,
            secretStep: /- created \(\d+\): .*`Secret\/voting-storage-secret`/,
        },
        {
            what: "canary -> finalize",
            args: () => ["--from", "canary", "--to", "finalize", ...asConfig(PASSWORDS)],
            secrets: PASSWORDS,
            // The Secret stays as it is: no step names it.
            secretStep: undefined,
        },
        {
            what: "canary -> lockdown (the rollback)",
            args: () => ["--from", "canary", "--to", "lockdown", ...asConfig(PASSWORDS)],
            secrets: PASSWORDS,
            secretStep: /- deleted \(\d+\): .*`Secret\/voting-storage-secret`/,
        },
        {
            what: "lockdown -> canary from stack files holding the passwords in plain text (the pull-request workflow's form)",
            args: () => [
                "--from-stack-file",
                stackFile("base", "lockdown"),
                "--to-stack-file",
                stackFile("head", "canary"),
            ],
            secrets: PASSWORDS,
            secretStep: /- created \(\d+\): .*`Secret\/voting-storage-secret`/,
        },
        {
            what: "lockdown -> canary, passwords generated",
            args: () => ["--from", "lockdown", "--to", "canary"],
            secrets: GENERATED,
            secretStep: /- created \(\d+\): .*`Secret\/voting-storage-secret`/,
        },
    ];

    it("plan says how each step into, through and out of the MySQL stages moves the Secret, without a password in any form", async () => {
        const results = await runAll(PLANS.map((p) => ({ script: "plan", args: p.args() })));
        PLANS.forEach((p, i) => {
            const { status, stdout, stderr } = results[i];
            assert.equal(status, 0, `${p.what}: ${redactSecrets(stderr, p.secrets)}`);
            assertNoLeak(`plan (${p.what}), stdout`, stdout, p.secrets);
            assertNoLeak(`plan (${p.what}), stderr`, stderr, p.secrets);
            assert.match(stdout, /^## Traffic change: /, p.what);
            if (p.secretStep) assert.match(stdout, p.secretStep, `${p.what}: the Secret's step`);
            else assert.doesNotMatch(stdout, /Secret\/voting-storage-secret/, `${p.what}: the Secret changes`);
        });
    });

    it("control for plan: both sides' runs, what it summarizes, hold the passwords in the Secret they create", async () => {
        const from = await planSide("lockdown", undefined, { ...PASSWORDS });
        const to = await planSide("canary", undefined, { ...PASSWORDS });
        assert.equal(secretOf(from.run), undefined, "no Secret at lockdown");
        assert.deepEqual(
            findLeaks(JSON.stringify(to.run.resources), PASSWORDS)
                .map((l) => l.name)
                .sort(),
            ["mysqlPassword", "mysqlRootPassword"],
        );
    });
});
