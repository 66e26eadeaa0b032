/**
 * The exchange of an Entra ID access token for an ACR refresh token (stages/acrToken.ts), against
 * a local HTTP stand-in for the registry's /oauth2/exchange endpoint that checks the request as
 * ACR documents it (https://github.com/Azure/acr/blob/main/docs/AAD-OAuth.md) and answers as it
 * documents. The stand-in cannot say whether a real registry takes the request: see the README,
 * "Azure identities and roles".
 */
import { strict as assert } from "assert";
import * as http from "http";
import { AddressInfo } from "net";
import {
    ACR_TOKEN_AUDIENCE,
    ACR_TOKEN_USERNAME,
    exchangeEndpoint,
    exchangeForAcrRefreshToken,
    FetchLike,
} from "../stages/acrToken";

const LOGIN_SERVER = "myregistry.azurecr.io";
const TENANT = "409520d4-8100-4d1d-ad47-72432ddcc120";
const ACCESS_TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.entra-access-token.signature";
const REFRESH_TOKEN = "eyJhbGciOiJSUzI1NiJ9.acr-refresh-token.signature";

interface Seen {
    method: string;
    path: string;
    contentType: string;
    form: Record<string, string>;
}

/** How the stand-in answers a request it found well formed. */
type Behaviour = (res: http.ServerResponse) => void;

/** A registry stand-in on 127.0.0.1: checks each request, records it, answers as `behaviour` says. */
async function standIn(behaviour: Behaviour): Promise<{ base: string; seen: Seen[]; close(): Promise<void> }> {
    const seen: Seen[] = [];
    const server = http.createServer((req, res) => {
        let body = "";
        req.on("data", (chunk) => (body += chunk));
        req.on("end", () => {
            const form = Object.fromEntries(new URLSearchParams(body));
            seen.push({
                method: req.method ?? "",
                path: req.url ?? "",
                contentType: req.headers["content-type"] ?? "",
                form,
            });
            // ACR's documented request: a form POST to /oauth2/exchange with exactly these fields.
            const wellFormed =
                req.method === "POST" &&
                req.url === "/oauth2/exchange" &&
                req.headers["content-type"] === "application/x-www-form-urlencoded" &&
                JSON.stringify(Object.keys(form).sort()) ===
                    JSON.stringify(["access_token", "grant_type", "service", "tenant"]) &&
                form.grant_type === "access_token";
            if (!wellFormed) {
                res.writeHead(400, { "Content-Type": "application/json" });
                res.end(JSON.stringify({ errors: [{ code: "UNSUPPORTED", message: "not an exchange request" }] }));
                return;
            }
            behaviour(res);
        });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    return {
        base: `http://127.0.0.1:${port}`,
        seen,
        close: () => {
            server.closeAllConnections();
            return new Promise<void>((resolve) => server.close(() => resolve()));
        },
    };
}

const json = (status: number, body: unknown) => (res: http.ServerResponse) => {
    res.writeHead(status, { "Content-Type": "application/json" });
    res.end(JSON.stringify(body));
};

const exchange = (
    base: string | undefined,
    overrides: Partial<Parameters<typeof exchangeForAcrRefreshToken>[0]> = {},
) =>
    exchangeForAcrRefreshToken({
        loginServer: LOGIN_SERVER,
        tenant: TENANT,
        accessToken: ACCESS_TOKEN,
        fetch: (url, init) => fetch(url, init),
        baseUrl: base,
        ...overrides,
    });

describe("ACR token exchange (stages/acrToken.ts) against a local stand-in for the registry", () => {
    it("posts the documented form to /oauth2/exchange and returns the refresh token", async () => {
        const acr = await standIn(json(200, { refresh_token: REFRESH_TOKEN }));
        try {
            assert.equal(await exchange(acr.base), REFRESH_TOKEN);
            assert.deepEqual(acr.seen, [
                {
                    method: "POST",
                    path: "/oauth2/exchange",
                    contentType: "application/x-www-form-urlencoded",
                    form: {
                        grant_type: "access_token",
                        service: LOGIN_SERVER,
                        tenant: TENANT,
                        access_token: ACCESS_TOKEN,
                    },
                },
            ]);
        } finally {
            await acr.close();
        }
    });

    it("control: the stand-in refuses a request that is not the documented one", async () => {
        const acr = await standIn(json(200, { refresh_token: REFRESH_TOKEN }));
        try {
            const wrong = await fetch(`${acr.base}/oauth2/exchange`, {
                method: "POST",
                headers: { "Content-Type": "application/x-www-form-urlencoded" },
                body: new URLSearchParams({ grant_type: "password", service: LOGIN_SERVER }).toString(),
            });
            assert.equal(wrong.status, 400);
            const wrongPath = await fetch(`${acr.base}/oauth2/token`, {
                method: "POST",
                headers: { "Content-Type": "application/x-www-form-urlencoded" },
                body: new URLSearchParams({
                    grant_type: "access_token",
                    service: LOGIN_SERVER,
                    tenant: TENANT,
                    access_token: ACCESS_TOKEN,
                }).toString(),
            });
            assert.equal(wrongPath.status, 400);
        } finally {
            await acr.close();
        }
    });

    it("a refusal fails with the registry's status and answer, never the token sent", async () => {
        // ACR's error shape; this stand-in also echoes the token, which must not reach the message.
        const acr = await standIn(
            json(401, { errors: [{ code: "UNAUTHORIZED", message: `bad token ${ACCESS_TOKEN}` }] }),
        );
        try {
            await assert.rejects(exchange(acr.base), (err: Error) => {
                assert.match(err.message, /oauth2\/exchange failed: HTTP 401: .*UNAUTHORIZED/);
                assert.ok(!err.message.includes(ACCESS_TOKEN), `the token is in the error: ${err.message}`);
                return true;
            });
        } finally {
            await acr.close();
        }
    });

    it("an answer without a refresh_token, or not JSON, is an error", async () => {
        for (const [behaviour, expected] of [
            [json(200, { access_token: "not what was asked" }), /no refresh_token/],
            [json(200, { refresh_token: "" }), /no refresh_token/],
            [
                (res: http.ServerResponse) => {
                    res.writeHead(200, { "Content-Type": "text/html" });
                    res.end("<html>a captive portal</html>");
                },
                /not JSON/,
            ],
        ] as const) {
            const acr = await standIn(behaviour);
            try {
                await assert.rejects(exchange(acr.base), expected);
            } finally {
                await acr.close();
            }
        }
    });

    it("a registry that does not answer is given up after the timeout", async () => {
        const acr = await standIn(() => undefined); // never answers
        try {
            const started = Date.now();
            await assert.rejects(exchange(acr.base, { timeoutMs: 300 }), /no answer within 300 ms/);
            assert.ok(Date.now() - started < 5000);
        } finally {
            await acr.close();
        }
    });

    it("an unreachable registry is an error naming the endpoint and the reason", async () => {
        const acr = await standIn(json(200, { refresh_token: REFRESH_TOKEN }));
        await acr.close();
        await assert.rejects(exchange(acr.base), new RegExp(`${acr.base}/oauth2/exchange failed: .*ECONNREFUSED`));
    });

    it("production goes to https://<loginServer>; plain http only to a loopback stand-in", async () => {
        const urls: string[] = [];
        const recording: FetchLike = async (url) => {
            urls.push(url);
            return { status: 200, text: async () => JSON.stringify({ refresh_token: REFRESH_TOKEN }) };
        };
        assert.equal(await exchange(undefined, { fetch: recording }), REFRESH_TOKEN);
        assert.deepEqual(urls, [`https://${LOGIN_SERVER}/oauth2/exchange`]);
        assert.equal(exchangeEndpoint(LOGIN_SERVER, "http://localhost:5000/"), "http://localhost:5000/oauth2/exchange");
        assert.equal(exchangeEndpoint(LOGIN_SERVER, "http://[::1]:8080"), "http://[::1]:8080/oauth2/exchange");
        assert.throws(() => exchangeEndpoint(LOGIN_SERVER, `http://${LOGIN_SERVER}`), /without TLS/);
        assert.throws(() => exchangeEndpoint(LOGIN_SERVER, "http://127.0.0.1.example.com"), /without TLS/);
        assert.throws(() => exchangeEndpoint(`https://${LOGIN_SERVER}`), /not a registry login server/);
        assert.throws(() => exchangeEndpoint(`${LOGIN_SERVER}/v2`), /not a registry login server/);
        await assert.rejects(exchange(undefined, { tenant: "", fetch: recording }), /no tenant/);
        await assert.rejects(exchange(undefined, { accessToken: "", fetch: recording }), /no access token/);
        assert.equal(urls.length, 1, "nothing is sent without a tenant and a token");
    });

    it("the constants are ACR's: the null-GUID user and the registry's own token audience", () => {
        assert.equal(ACR_TOKEN_USERNAME, "00000000-0000-0000-0000-000000000000");
        assert.equal(ACR_TOKEN_AUDIENCE, "https://containerregistry.azure.net");
    });
});
