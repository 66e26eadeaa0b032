/**
 * Finds secret values in text in every form they could leak as: plain, JSON-escaped (once and
 * twice, and as Go's encoder escapes HTML characters), URL-encoded, hex, and base64 (standard and
 * URL-safe alphabets) both on their own (a Kubernetes Secret's `data`) and inside any longer base64
 * text (a whole manifest or kubeconfig encoded), at each of the three byte alignments; in text as
 * printed and with its ANSI colour codes removed; and the base64 of its base64 (a Secret's `data`
 * inside a manifest encoded in turn). What it reports never holds the value itself (nor a part of
 * one), so a report can go into a log that is scanned in turn.
 *
 * `node -r ts-node/register/transpile-only test/support/secretScan.ts PATH...` scans files and
 * folders (recursively; `.gz` files decompressed) for the test suites' own secret values
 * (TEST_SECRETS), after a control: the same scan must find each of them in a text made to leak
 * them. Exit 0 when nothing leaks; 1, naming the file, the value's name, its form and offset, when
 * something does (or when there is no file to scan); 2 on a usage error or a path that is not
 * there. scripts/test.sh runs it over every log the suites wrote, as its last step.
 */
import * as fs from "fs";
import * as path from "path";
import * as zlib from "zlib";

/** Secret values by name ("mysqlPassword"); the names, never the values, are what reports show. */
export type Secrets = Record<string, string>;

/**
 * The secret values the project's tests set as secret config (or that the mock runtime generates
 * for the passwords when none is set). test/secrets.test.ts checks that every password literal the
 * tests give as `mysqlPassword`/`mysqlRootPassword` is here.
 */
export const TEST_SECRETS: Secrets = {
    // e2e/harness.ts, SECRETS (the walk's and the interrupted ups' stacks)
    "e2e walk mysqlPassword": "e2e-app-password-0123",
    "e2e walk mysqlRootPassword": "e2e-root-password-0123",
    // e2e/secrets/passwords.ts: e2e/secrets.e2e.ts's stack's passwords and the rotated ones its preview plans
    "e2e secrets mysqlPassword": "e2e-secrets-app-pw-7c1d",
    "e2e secrets mysqlRootPassword": "e2e-secrets-root-pw-9e4b",
    "e2e secrets rotated mysqlPassword": "e2e-secrets-rotated-app-pw-3f8a",
    "e2e secrets rotated mysqlRootPassword": "e2e-secrets-rotated-root-pw-6b2e",
    // test/secrets.test.ts, given to render and plan
    "unit secrets mysqlPassword": "unit-secrets-app-pw-5a0c",
    "unit secrets mysqlRootPassword": "unit-secrets-root-pw-2d7f",
    // test/stages.test.ts and test/carryJobs.test.ts
    "stages mysqlPassword": "from-config-1",
    "stages mysqlRootPassword": "from-config-2",
    "carry mysqlPassword": "pw-in-config-1",
    "carry mysqlRootPassword": "root-pw-2",
    // mock/runProgram.ts: RandomPassword's result under the mock runtime (`mock-<name>-0123456789`)
    "mock generated mysql-password": "mock-mysql-password-0123456789",
    "mock generated mysql-root-password": "mock-mysql-root-password-0123456789",
};

export interface SecretForm {
    /** How the value is written: "plain", "base64", "JSON-escaped", ... */
    form: string;
    needle: string;
}

/** Shorter values make needles that random text could hold by chance. */
export const MIN_SECRET_LENGTH = 8;

const URL_SAFE = (b64: string) => b64.replace(/\+/g, "-").replace(/\//g, "_");

/**
 * The base64 characters that the value's bytes alone decide, at each alignment: whatever precedes
 * the value in a longer encoded text, the groups of three bytes wholly inside it encode the same
 * way. The first (alignment 0) is also the start of the value's own encoding.
 */
function base64Cores(bytes: Buffer): string[] {
    const cores: string[] = [];
    for (let skip = 0; skip < 3; skip++) {
        const whole = Math.floor((bytes.length - skip) / 3) * 3;
        if (whole >= 6) cores.push(bytes.subarray(skip, skip + whole).toString("base64"));
    }
    return cores;
}

/** Every form of `value` that `findLeaks` looks for (distinct needles). */
export function secretForms(value: string): SecretForm[] {
    if (value.length < MIN_SECRET_LENGTH)
        throw new Error(`a secret value of ${value.length} characters is too short to scan for`);
    const bytes = Buffer.from(value, "utf8");
    const json = JSON.stringify(value).slice(1, -1);
    const forms: SecretForm[] = [
        { form: "plain", needle: value },
        { form: "JSON-escaped", needle: json },
        { form: "JSON-escaped twice", needle: JSON.stringify(json).slice(1, -1) },
        {
            form: "JSON-escaped as Go writes it",
            needle: json.replace(/</g, "\\u003c").replace(/>/g, "\\u003e").replace(/&/g, "\\u0026"),
        },
        { form: "URL-encoded", needle: encodeURIComponent(value) },
        { form: "hex", needle: bytes.toString("hex") },
        { form: "hex", needle: bytes.toString("hex").toUpperCase() },
        { form: "base64", needle: bytes.toString("base64") },
        ...base64Cores(bytes).map((needle) => ({ form: "base64", needle })),
        { form: "base64 (URL-safe)", needle: URL_SAFE(bytes.toString("base64")).replace(/=+$/, "") },
        ...base64Cores(bytes).map((needle) => ({ form: "base64 (URL-safe)", needle: URL_SAFE(needle) })),
        // A Secret's `data` (the value's base64) inside a manifest that is base64-encoded in turn.
        ...base64Cores(Buffer.from(bytes.toString("base64"))).map((needle) => ({
            form: "base64 of its base64",
            needle,
        })),
    ];
    const seen = new Set<string>();
    return forms.filter((f) => !seen.has(f.needle) && seen.add(f.needle));
}

export interface Leak {
    /** The value's name in the Secrets given. */
    name: string;
    form: string;
    /** Where in the text scanned (in the text without ANSI codes when `ansiStripped`). */
    offset: number;
    ansiStripped: boolean;
    /**
     * From 40 characters before to 80 after, every secret's every form replaced by its name (""
     * past the first 20 leaks).
     */
    context: string;
}

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)/g;

export function stripAnsi(text: string): string {
    return text.replace(ANSI, "");
}

/** `text` with every form of every secret replaced by `<name (form)>`: safe to print. */
export function redactSecrets(text: string, secrets: Secrets): string {
    let out = text;
    const needles = Object.entries(secrets)
        .flatMap(([name, value]) => secretForms(value).map((f) => ({ name, ...f })))
        .sort((a, b) => b.needle.length - a.needle.length);
    for (const { name, form, needle } of needles) out = out.split(needle).join(`<${name} (${form})>`);
    return out;
}

/** Every place a secret appears in `text`, in any form, as printed or without ANSI codes. */
export function findLeaks(text: string, secrets: Secrets): Leak[] {
    const stripped = stripAnsi(text);
    const texts =
        stripped === text
            ? [{ text, ansiStripped: false }]
            : [
                  { text, ansiStripped: false },
                  { text: stripped, ansiStripped: true },
              ];
    const found: Leak[] = [];
    for (const [name, value] of Object.entries(secrets)) {
        const forms = secretForms(value);
        for (const t of texts) {
            // Without the colour codes, only what the text as printed did not show already.
            if (t.ansiStripped && found.some((l) => l.name === name)) continue;
            const places: (Leak & { end: number })[] = [];
            for (const { form, needle } of forms)
                for (let at = t.text.indexOf(needle); at >= 0; at = t.text.indexOf(needle, at + 1))
                    places.push({
                        name,
                        form,
                        offset: at,
                        end: at + needle.length,
                        ansiStripped: t.ansiStripped,
                        context: "",
                    });
            // One report per place: the longest form found there (the plain value, not its parts' encodings).
            places.sort((a, b) => a.offset - b.offset || b.end - a.end);
            let reached = -1;
            for (const { end, ...leak } of places) {
                if (leak.offset < reached) continue;
                found.push(leak);
                reached = end;
            }
        }
    }
    // The context comes from the whole text redacted (a value cut by an excerpt's edge cannot show
    // in part): around where the offset lands once what precedes it is redacted too.
    const redacted = new Map<boolean, string>();
    const everyone = { ...TEST_SECRETS, ...secrets };
    for (const leak of found.slice(0, MAX_CONTEXTS)) {
        const source = leak.ansiStripped ? stripped : text;
        if (!redacted.has(leak.ansiStripped)) redacted.set(leak.ansiStripped, redactSecrets(source, everyone));
        const at = redactSecrets(source.slice(0, leak.offset), everyone).length;
        leak.context = redacted.get(leak.ansiStripped)!.slice(Math.max(0, at - 40), at + 80);
    }
    return found;
}

/** Leaks reported with their context (each costs a pass over the text before it). */
const MAX_CONTEXTS = 20;

/**
 * Where in a JSON value (an engine event, a state file) secrets are: the paths of the strings
 * that hold one, with the leaks' names and forms (`.a.b[2]: mysqlPassword as base64`).
 */
export function leakPaths(value: unknown, secrets: Secrets, at = ""): string[] {
    if (typeof value === "string")
        return [...new Set(findLeaks(value, secrets).map((l) => `${at || "."}: ${l.name} as ${l.form}`))];
    if (Array.isArray(value)) return value.flatMap((v, i) => leakPaths(v, secrets, `${at}[${i}]`));
    if (value !== null && typeof value === "object")
        return Object.entries(value).flatMap(([k, v]) => [
            ...findLeaks(k, secrets).map((l) => `${at}: a key holds ${l.name} as ${l.form}`),
            ...leakPaths(v, secrets, `${at}.${k}`),
        ]);
    return [];
}

/** A report of leaks, one line each, without the values. */
export function describeLeaks(where: string, leaks: Leak[]): string {
    return leaks
        .map(
            (l) =>
                `${where}: ${l.name} as ${l.form} at ${l.offset}${l.ansiStripped ? " (ANSI codes removed)" : ""}: …${l.context.replace(/\s+/g, " ")}…`,
        )
        .join("\n");
}

/** Fails, naming where, what and in which form (never the value), when `text` holds a secret. */
export function assertNoLeak(where: string, text: string, secrets: Secrets): void {
    const leaks = findLeaks(text, secrets);
    if (leaks.length > 0) throw new Error(`secret values in ${where}:\n${describeLeaks(where, leaks)}`);
}

/** Files under each path (folders recursively), in a stable order. */
export function filesUnder(paths: string[]): string[] {
    const out: string[] = [];
    const walk = (p: string) => {
        const stat = fs.statSync(p);
        if (stat.isDirectory()) for (const entry of fs.readdirSync(p).sort()) walk(path.join(p, entry));
        else if (stat.isFile()) out.push(p);
    };
    for (const p of paths) walk(p);
    return out;
}

/** A file's text (`.gz` decompressed). */
export function readText(file: string): string {
    const raw = fs.readFileSync(file);
    return (file.endsWith(".gz") ? zlib.gunzipSync(raw) : raw).toString("utf8");
}

/**
 * The control: a text made to hold each secret in each form the scan knows, inside other text
 * (base64 forms inside a longer base64 text at every alignment, the plain form coloured), must be
 * reported for each. Returns what the scan missed (nothing when it works).
 */
export function controlMisses(secrets: Secrets): string[] {
    const misses: string[] = [];
    for (const [name, value] of Object.entries(secrets)) {
        const bytes = Buffer.from(value, "utf8");
        const planted: [string, string][] = [
            ["plain, coloured", `note: \x1b[1;31m${value}\x1b[0m\n`],
            ["JSON", JSON.stringify({ stringData: { MYSQL_PASSWORD: value } })],
            ["Secret data (base64)", `data:\n  MYSQL_PASSWORD: ${bytes.toString("base64")}\n`],
            ...[0, 1, 2].map((k): [string, string] => [
                `inside a longer base64 text at alignment ${k}`,
                Buffer.concat([Buffer.from("x".repeat(k + 3)), bytes, Buffer.from("tail")]).toString("base64"),
            ]),
            ["URL-safe base64", URL_SAFE(Buffer.concat([Buffer.from("ab"), bytes]).toString("base64"))],
            ["hex", `0x${bytes.toString("hex")}`],
            [
                "Secret data inside a base64-encoded manifest",
                Buffer.from(`{"data":{"k":"${bytes.toString("base64")}"}}`).toString("base64"),
            ],
        ];
        for (const [how, text] of planted)
            if (!findLeaks(text, { [name]: value }).some((l) => l.name === name)) misses.push(`${name}: ${how}`);
    }
    return misses;
}

function main(args: string[]): number {
    if (args.length === 0 || args.includes("-h") || args.includes("--help")) {
        process.stderr.write("usage: secretScan.ts PATH... (files or folders: scanned for the tests' secret values)\n");
        return 2;
    }
    const missing = args.filter((p) => !fs.existsSync(p));
    if (missing.length > 0) {
        process.stderr.write(`secret-scan: no such file or folder: ${missing.join(", ")}\n`);
        return 2;
    }
    const misses = controlMisses(TEST_SECRETS);
    if (misses.length > 0) {
        process.stdout.write(`secret-scan: the control was not found: ${misses.join("; ")}\n`);
        return 1;
    }
    const files = filesUnder(args);
    if (files.length === 0) {
        process.stdout.write(`secret-scan: no file to scan under ${args.join(", ")}\n`);
        return 1;
    }
    let characters = 0;
    const found: string[] = [];
    for (const file of files) {
        const text = readText(file);
        characters += text.length;
        const leaks = findLeaks(text, TEST_SECRETS);
        if (leaks.length > 0) found.push(describeLeaks(file, leaks));
    }
    if (found.length > 0) {
        process.stdout.write(`${found.join("\n")}\n`);
        process.stdout.write(`secret-scan: a test secret in ${found.length} of ${files.length} file(s)\n`);
        return 1;
    }
    process.stdout.write(
        `secret-scan: ${files.length} file(s) (${files.map((f) => path.basename(f)).join(", ")}), ${characters} characters: none of the ${Object.keys(TEST_SECRETS).length} test secrets in any form (the control found each)\n`,
    );
    return 0;
}

if (require.main === module) {
    process.exit(main(process.argv.slice(2)));
}
