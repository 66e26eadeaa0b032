/**
 * What the routes of a StagePlan say, whatever the traffic API expressing them (./traffic/): the
 * ingress rules (flag cookie, sticky canary cookies, weighted default), the mesh routes grouped by
 * target version, the cookies' regular expressions, and STRICT mTLS. Plain data, no Pulumi.
 */
import { Component, MeshRoute, StagePlan, stickyAssignment, Version, subsetName, WorkloadRef } from "./model";
import { CANARY_COOKIE, canaryCookieValue } from "./names";

export const FEATURE_FLAG_COOKIE = "featureflag=on";
/**
 * RE2, matched against the whole Cookie header. Cookies are separated by "; " (RFC 6265), so the
 * walkthrough's `^(.*?;)?(featureflag=on)(;.*)?$` misses the flag when it is not the first cookie.
 */
export const FEATURE_FLAG_COOKIE_REGEX = "^(.*?;\\s*)?(featureflag=on)(;.*)?$";

/** An RE2 alternation matching exactly the decimal integers from..to (1 <= from <= to <= 99). */
export function integerRangeRegex(from: number, to: number): string {
    if (!(Number.isInteger(from) && Number.isInteger(to) && 1 <= from && from <= to && to <= 99))
        throw new Error(`integerRangeRegex: ${from}..${to} is not within 1..99`);
    const digits = (a: number, b: number) => (a === b ? `${a}` : `[${a}-${b}]`);
    const parts: string[] = [];
    let n = from;
    while (n <= to) {
        if (n <= 9) {
            parts.push(digits(n, Math.min(to, 9)));
            n = Math.min(to, 9) + 1;
            continue;
        }
        const tens = Math.floor(n / 10);
        // Whole decades at once: 30..99 is [3-9][0-9].
        const lastWholeDecade = Math.floor((to + 1) / 10) - 1;
        if (n % 10 === 0 && lastWholeDecade >= tens) {
            parts.push(`${digits(tens, lastWholeDecade)}[0-9]`);
            n = (lastWholeDecade + 1) * 10;
            continue;
        }
        const hi = Math.min(to, tens * 10 + 9);
        parts.push(`${tens}${digits(n % 10, hi % 10)}`);
        n = hi + 1;
    }
    return parts.join("|");
}

/** RE2 on the whole Cookie header: CANARY_COOKIE names `version`, picked at a weight in from..to. */
export function canaryCookieRegex(version: Version, weights: { from: number; to: number }): string {
    const value = `${version.replace(/\./g, "\\.")}-w(${integerRangeRegex(weights.from, weights.to)})`;
    return `^(.*?;\\s*)?${CANARY_COOKIE}=${value}(;.*)?$`;
}

/** The Set-Cookie header of the weighted route to `version`: a session cookie, for the whole site. */
export function canarySetCookie(version: Version, weight: number): string {
    return `${CANARY_COOKIE}=${canaryCookieValue(version, weight)}; Path=/; HttpOnly; SameSite=Lax`;
}

/** One backend of an ingress rule: an app version (none: the app's Service, every version), its weight, a Set-Cookie. */
export interface IngressBackend {
    version?: Version;
    /** Percent, when the rule splits between several backends. */
    weight?: number;
    /** The Set-Cookie header added to responses from this backend. */
    setCookie?: string;
}

/** One ingress rule, tried in order: requests whose Cookie header matches `cookieRegex` (none: all) go to `backends`. */
export interface IngressRule {
    name: string;
    cookieRegex?: string;
    backends: IngressBackend[];
}

/**
 * Who among users reaches which app version, whatever the API expressing it: the flag cookie
 * first, then the sticky canary's cookies, then the default (weighted) split. Without mesh
 * routing (deploy, update) one rule sends everyone to the app's Service.
 */
export function ingressRules(plan: StagePlan): IngressRule[] {
    const useVersions = plan.stage.meshRouting;
    const rules: IngressRule[] = [];
    const weights = Object.entries(plan.defaultAppWeights) as [Version, number][];
    const flaggedDiffers = weights.length !== 1 || weights[0][0] !== plan.flaggedAppVersion;
    if (useVersions && flaggedDiffers) {
        rules.push({
            name: "feature-flag",
            cookieRegex: FEATURE_FLAG_COOKIE_REGEX,
            backends: [{ version: plan.flaggedAppVersion }],
        });
    }
    // Sticky weighted canary: users the weight already placed stay where it placed them.
    for (const { version, weights: range } of stickyAssignment(plan)) {
        rules.push({
            name: `sticky-${subsetName(version)}`,
            cookieRegex: canaryCookieRegex(version, range),
            backends: [{ version }],
        });
    }
    rules.push({
        name: "default",
        backends: weights.map(([version, weight]) => ({
            ...(useVersions ? { version } : {}),
            ...(weights.length > 1 ? { weight } : {}),
            ...(plan.sticky ? { setCookie: canarySetCookie(version, plan.sticky.weight) } : {}),
        })),
    });
    return rules;
}

/** The app versions an ingress rule set sends users to (each must be served first). */
export function ingressTargets(rules: IngressRule[]): Version[] {
    return [...new Set(rules.flatMap((r) => r.backends.map((b) => b.version)).filter((v): v is Version => !!v))].sort();
}

/** Mesh routes into one component, grouped by the version they go to: which client workloads go there. */
export function meshRoutesInto(plan: StagePlan, component: Component): { version: Version; from: WorkloadRef[] }[] {
    if (!plan.stage.meshRouting) return [];
    const routes: MeshRoute[] = plan.stage.routes.filter((r) => r.to.component === component);
    return [...new Set(routes.map((r) => r.to.version))].sort().map((version) => ({
        version,
        from: routes.filter((r) => r.to.version === version).map((r) => r.from),
    }));
}

export function peerAuthenticationSpec(): Record<string, unknown> {
    return { mtls: { mode: "STRICT" } };
}
