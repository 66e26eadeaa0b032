/**
 * What the engine shows in e2e/secrets.e2e.ts's runs (a run's output streams and its event log,
 * `Shown`) and the assertions on it: `assertNothingShown` (no password, the SDK's RPC debug
 * messages aside), the Secret's step in the events (`secretStep`), its values masked
 * (`assertMasked`) or, in the state, stored as ciphertext (`assertCiphertext`, `isCiphertext`).
 */
import { strict as assert } from "assert";
import { EngineEvent } from "@pulumi/pulumi/automation";
import {
    assertNoLeak,
    findLeaks,
    leakPaths,
    redactSecrets,
    Secrets,
    TEST_SECRETS,
} from "../../test/support/secretScan";
import { ALL } from "./passwords";

/** The secret signature Pulumi marks a secret value with in state and events (sdk/go/common/resource/sig). */
const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const SECRET_VALUE_SIG = "1b47061264138c4ac30d75fd1eb44270";

/** What one engine run showed: its output streams and its event log, each as text. */
export interface Shown {
    what: string;
    texts: { where: string; text: string }[];
    events: EngineEvent[];
}

/**
 * The Node.js SDK's own debug messages about its calls to the engine, each with the response it got
 * (@pulumi/pulumi's runtime/resource.js and invoke.js: `log.debug(\`RegisterResource RPC finished:
 * ...; resp: ${innerResponse}\`)`): a response holds the resource's outputs with secrets in plain
 * text (marked, not encrypted), e.g. the Secret's `data` as the provider returns it. The engine
 * hides debug messages from what it prints (unless --debug) and from what Pulumi Cloud keeps, but
 * writes them to the --event-log. Known, upstream (still so in pulumi/pulumi's main in 2026-08);
 * held apart here, counted and reported, every other event must hold nothing.
 */
const SDK_RPC_DEBUG =
    /^(RegisterResource|RegisterResourceOutputs|ReadResource|getResource Invoke|Invoke|Call) RPC finished: /;
const isSdkRpcDebug = (e: EngineEvent) =>
    // (The Automation API's type leaves "debug" out; the engine writes it.)
    (e.diagnosticEvent?.severity as string | undefined) === "debug" && SDK_RPC_DEBUG.test(e.diagnosticEvent!.message);

/**
 * Fails when a secret is in what the run showed: its output streams and every event of its event
 * log, the SDK's RPC debug messages aside (see SDK_RPC_DEBUG). Returns how many of those hold one.
 */
export function assertNothingShown(shown: Shown, secrets: Secrets = ALL): number {
    // The event log first, event by event: a leak there is named by the event and the field.
    const inEvents = shown.events.flatMap((event, i) => {
        if (isSdkRpcDebug(event) || findLeaks(JSON.stringify(event), secrets).length === 0) return [];
        const kind = Object.keys(event).find((k) => k.endsWith("Event")) ?? "event";
        const diagnostic = event.diagnosticEvent
            ? ` [${event.diagnosticEvent.severity}${event.diagnosticEvent.urn ? ` on ${event.diagnosticEvent.urn}` : ""}: ${redactSecrets(event.diagnosticEvent.message, { ...TEST_SECRETS, ...secrets }).slice(0, 400)}]`
            : "";
        return leakPaths(event, secrets).map((p) => `event ${i} (${kind}) ${p}${diagnostic}`);
    });
    assert.deepEqual(inEvents, [], `${shown.what}: secret values in the engine's event log`);
    for (const { where, text } of shown.texts) assertNoLeak(`${shown.what}, ${where}`, text, secrets);
    const known = shown.events.filter((e) => isSdkRpcDebug(e) && findLeaks(JSON.stringify(e), secrets).length > 0);
    if (known.length > 0)
        process.stderr.write(
            `e2e: known, upstream: ${known.length} debug message(s) of the Node.js SDK in the event log of the ${shown.what} hold a password (${[...new Set(known.map((e) => e.diagnosticEvent!.message.split(":")[0]))].join(", ")}); nothing else does\n`,
        );
    return known.length;
}

/** The Secret's values (`data`, `stringData`) of an object as the events or the state carry it. */
export function secretValues(object: Record<string, any> | undefined): Record<string, unknown> {
    return Object.fromEntries(
        ["data", "stringData"].filter((k) => object?.[k] !== undefined).map((k) => [k, object![k]]),
    );
}

/**
 * The Secret's steps in an engine's events: their operations (a replacement is several), its values
 * as the events carry them (the new ones where there are), what differs.
 */
export function secretStep(events: EngineEvent[]): { ops: string[]; values: Record<string, unknown>; diffs: string[] } {
    const steps = events
        .map((e) => e.resourcePreEvent?.metadata)
        .filter((x) => x?.type === "kubernetes:core/v1:Secret" && x.urn.endsWith("::voting-storage-secret"));
    const withNew = steps.find((m) => m?.new) ?? steps[0];
    return {
        ops: steps.map((m) => m!.op),
        values: secretValues((withNew?.new ?? withNew?.old)?.inputs),
        // What differs: the step's diffs, its replace keys and its detailed diff's paths.
        diffs: [
            ...new Set(
                steps.flatMap((m) => [...(m!.diffs ?? []), ...(m!.keys ?? []), ...Object.keys(m!.detailedDiff ?? {})]),
            ),
        ],
    };
}

/** Every value given is the engine's mask, and there is one at least. */
export function assertMasked(values: Record<string, unknown>, what: string) {
    assert.ok(Object.keys(values).length > 0, `${what}: neither data nor stringData`);
    for (const [k, v] of Object.entries(values)) {
        // The display's mask, or the event log's: the secret's signature with "[secret]" for its ciphertext.
        const masked =
            v === "[secret]" || (isSecretObject(v) && (v as Record<string, unknown>).ciphertext === "[secret]");
        assert.ok(
            masked,
            `${what}: ${k} is not masked (${typeof v === "object" ? Object.keys(v as object) : typeof v})`,
        );
    }
}

/** Every value given is stored as ciphertext, and there is one at least. */
export function assertCiphertext(values: Record<string, unknown>, what: string) {
    assert.ok(Object.keys(values).length > 0, `${what}: neither data nor stringData`);
    for (const [k, v] of Object.entries(values))
        assert.ok(isCiphertext(v), `${what}: ${k} is not stored as ciphertext (${Object.keys(v as object)})`);
}

/** A value marked secret (the signature), whatever it carries. */
function isSecretObject(value: unknown): boolean {
    return (value as Record<string, unknown> | undefined)?.[SECRET_SIG] === SECRET_VALUE_SIG;
}

/** A value in state is a secret with ciphertext (never the plaintext). */
export function isCiphertext(value: unknown): boolean {
    const v = value as Record<string, unknown> | undefined;
    return (
        isSecretObject(v) && typeof v?.ciphertext === "string" && v.ciphertext.length > 0 && v.plaintext === undefined
    );
}
