/**
 * Pushing to an Azure Container Registry without its admin user: the Entra ID (Azure AD) access
 * token of whoever runs `pulumi up` is exchanged at the registry for an ACR refresh token, which
 * `docker login` (and docker-build's `registries`) takes as the password of the null-GUID user.
 * It is the flow behind `az acr login --expose-token`, as ACR documents it ("AAD integration",
 * https://github.com/Azure/acr/blob/main/docs/AAD-OAuth.md, "Calling POST /oauth2/exchange"):
 *
 *     POST https://<loginServer>/oauth2/exchange
 *     Content-Type: application/x-www-form-urlencoded
 *     grant_type=access_token&service=<loginServer>&tenant=<tenant>&access_token=<Entra ID token>
 *     -> 200 {"refresh_token":"eyJ..."}
 *
 * (the Azure CLI sends the same fields: `_get_aad_token_after_challenge` in its
 * acr/_docker_utils.py). No Pulumi here: the HTTP client is a parameter, so a test can stand a
 * local server in for the registry.
 */

import { isLoopbackRegistry } from "./settings";

/** The user name that tells ACR the password is an ACR refresh token (the null GUID). */
export const ACR_TOKEN_USERNAME = "00000000-0000-0000-0000-000000000000";

/**
 * The audience to ask Entra ID for: a token meant for ACR's data plane only. ACR also takes
 * tokens for Azure Resource Manager unless the registry turns that off (Azure Policy "Container
 * registries should have ARM audience token authentication disabled"); this one works either way.
 */
export const ACR_TOKEN_AUDIENCE = "https://containerregistry.azure.net";

/** How long the exchange may take before it is given up, in milliseconds. */
export const ACR_EXCHANGE_TIMEOUT_MS = 30_000;

/** The part of `fetch` the exchange uses (Node's global `fetch` is one). */
export type FetchLike = (
    url: string,
    init: { method: "POST"; headers: Record<string, string>; body: string; signal?: AbortSignal },
) => Promise<{ status: number; text(): Promise<string> }>;

export interface AcrTokenExchange {
    /** The registry's login server, a bare host: myregistry.azurecr.io. It is also the `service`. */
    loginServer: string;
    /** The Entra ID tenant the access token was issued by. */
    tenant: string;
    /** An Entra ID access token of the identity that pushes (for ACR_TOKEN_AUDIENCE). */
    accessToken: string;
    fetch: FetchLike;
    /**
     * Where the registry's endpoints are; `https://<loginServer>` unless given. Plain `http://`
     * is refused except on a loopback address (a test's stand-in): the body carries a token.
     */
    baseUrl?: string;
    timeoutMs?: number;
}

/** The exchange endpoint for these arguments, or an error saying why none is acceptable. */
export function exchangeEndpoint(loginServer: string, baseUrl?: string): string {
    if (!/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d+)?$/i.test(loginServer))
        throw new Error(
            `ACR token exchange: ${JSON.stringify(loginServer)} is not a registry login server (a host name)`,
        );
    const base = (baseUrl ?? `https://${loginServer}`).replace(/\/+$/, "");
    const match = /^(https?):\/\/([^/?#]+)$/.exec(base);
    if (!match) throw new Error(`ACR token exchange: ${JSON.stringify(base)} is not an http(s) origin`);
    if (match[1] === "http" && !isLoopbackRegistry(match[2]))
        throw new Error(
            `ACR token exchange: refusing to send an access token to ${base} without TLS (http:// is only for a loopback stand-in)`,
        );
    return `${base}/oauth2/exchange`;
}

/** At most `max` characters of an error body, with the access token cut out should it appear. */
function excerpt(body: string, secret: string, max = 300): string {
    const clean = secret ? body.split(secret).join("<access token>") : body;
    const flat = clean.replace(/\s+/g, " ").trim();
    return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

/**
 * Exchanges an Entra ID access token for an ACR refresh token (the password for
 * ACR_TOKEN_USERNAME). Throws on anything but a 200 answer with a `refresh_token`, saying what the
 * registry answered (never the token sent).
 */
export async function exchangeForAcrRefreshToken(args: AcrTokenExchange): Promise<string> {
    const url = exchangeEndpoint(args.loginServer, args.baseUrl);
    if (!args.tenant) throw new Error("ACR token exchange: no tenant");
    if (!args.accessToken) throw new Error("ACR token exchange: no access token");
    const body = new URLSearchParams({
        grant_type: "access_token",
        service: args.loginServer,
        tenant: args.tenant,
        access_token: args.accessToken,
    }).toString();
    const timeoutMs = args.timeoutMs ?? ACR_EXCHANGE_TIMEOUT_MS;
    let response: { status: number; text(): Promise<string> };
    let text: string;
    try {
        response = await args.fetch(url, {
            method: "POST",
            headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
            body,
            signal: AbortSignal.timeout(timeoutMs),
        });
        text = await response.text();
    } catch (err) {
        // Node's fetch says "fetch failed" and puts the reason (ECONNREFUSED, a DNS error) in `cause`.
        const cause = (err as { cause?: { message?: string } })?.cause?.message;
        const reason =
            (err as Error)?.name === "TimeoutError"
                ? `no answer within ${timeoutMs} ms`
                : `${String(err)}${cause ? `: ${cause}` : ""}`;
        throw new Error(`ACR token exchange at ${url} failed: ${excerpt(reason, args.accessToken)}`, { cause: err });
    }
    if (response.status !== 200)
        throw new Error(
            `ACR token exchange at ${url} failed: HTTP ${response.status}: ${excerpt(text, args.accessToken)}`,
        );
    let parsed: unknown;
    try {
        parsed = JSON.parse(text);
    } catch {
        throw new Error(`ACR token exchange at ${url}: the answer is not JSON: ${excerpt(text, args.accessToken)}`);
    }
    const token = (parsed as { refresh_token?: unknown } | null)?.refresh_token;
    if (typeof token !== "string" || token === "")
        throw new Error(`ACR token exchange at ${url}: the answer has no refresh_token`);
    return token;
}
