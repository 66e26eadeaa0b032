// A tiny stand-in for voting-analytics that records the headers it receives.

import http from "node:http";
import type { AddressInfo } from "node:net";

export interface FakeAnalytics {
    port: number;
    received: http.IncomingHttpHeaders[];
    /** What the next requests get. */
    reply: { status: number; body: string; delayMs: number };
    close(): Promise<void>;
}

export async function startFakeAnalytics(): Promise<FakeAnalytics> {
    const fake: FakeAnalytics = {
        port: 0,
        received: [],
        reply: { status: 200, body: JSON.stringify({ text: "fake analytics text" }), delayMs: 0 },
        close: async () => {},
    };
    const server = http.createServer((req, res) => {
        fake.received.push(req.headers);
        const { status, body, delayMs } = fake.reply;
        setTimeout(() => {
            res.writeHead(status, { "content-type": "application/json" });
            res.end(body);
        }, delayMs);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    fake.port = (server.address() as AddressInfo).port;
    fake.close = () =>
        new Promise<void>((r) => {
            server.closeAllConnections();
            server.close(() => r());
        });
    return fake;
}
