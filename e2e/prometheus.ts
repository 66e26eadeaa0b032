/**
 * A real Prometheus server (Debian's, scripts/prometheus.sh) on loopback, scraping every second an
 * exporter the test controls, which serves Istio-shaped series for the canary workload as the
 * destination's sidecar would: `istio_requests_total` by response code and
 * `istio_request_duration_milliseconds_bucket` with Istio's default buckets. The scenario says what
 * the canary does: healthy (all 200, 20 ms), erroring (10 % 503), slow (800 ms), silent (no series).
 */
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as http from "http";
import { AddressInfo } from "net";
import * as os from "os";
import * as path from "path";
import { CANARY_WORKLOAD } from "../stages/promotion";
import { APP_NAMESPACE } from "../stages/names";
import { ROOT } from "./stackProgram";

export type CanaryScenario = "healthy" | "erroring" | "slow" | "silent";

/** Istio's default request-duration buckets, in milliseconds. */
const BUCKETS = [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];
const REQUESTS_PER_SECOND = 50;

/** Serves /metrics for the canary; the counters grow with time at the scenario's rates. */
export class CanaryExporter {
    private server?: http.Server;
    private counts = { ok: 0, error: 0, durations: new Map<number, number>() };
    private last = Date.now();
    scenario: CanaryScenario = "healthy";

    async start(): Promise<number> {
        this.server = http.createServer((req, res) => {
            this.advance();
            res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
            res.end(
                this.scenario === "silent" ? "# no Istio series: the canary's metrics are not scraped\n" : this.text(),
            );
        });
        await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
        return (this.server.address() as AddressInfo).port;
    }

    async stop(): Promise<void> {
        await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    }

    /** Adds the requests since the last scrape at the scenario's rates. */
    private advance() {
        const now = Date.now();
        const requests = Math.round(((now - this.last) / 1000) * REQUESTS_PER_SECOND);
        this.last = now;
        if (this.scenario === "silent") return;
        const errors = this.scenario === "erroring" ? Math.round(requests * 0.1) : 0;
        this.counts.ok += requests - errors;
        this.counts.error += errors;
        const duration = this.scenario === "slow" ? 800 : 20;
        this.counts.durations.set(duration, (this.counts.durations.get(duration) ?? 0) + requests);
    }

    private text(): string {
        const labels = `reporter="destination",destination_workload_namespace="${APP_NAMESPACE}",destination_workload="${CANARY_WORKLOAD}",destination_app="voting-app",destination_version="2.0"`;
        const total = this.counts.ok + this.counts.error;
        const below = (le: number) =>
            [...this.counts.durations].filter(([d]) => d <= le).reduce((n, [, c]) => n + c, 0);
        return [
            "# TYPE istio_requests_total counter",
            `istio_requests_total{${labels},response_code="200"} ${this.counts.ok}`,
            `istio_requests_total{${labels},response_code="503"} ${this.counts.error}`,
            "# TYPE istio_request_duration_milliseconds histogram",
            ...BUCKETS.map((le) => `istio_request_duration_milliseconds_bucket{${labels},le="${le}"} ${below(le)}`),
            `istio_request_duration_milliseconds_bucket{${labels},le="+Inf"} ${total}`,
            `istio_request_duration_milliseconds_count{${labels}} ${total}`,
            "",
        ].join("\n");
    }
}

/** Prometheus on 127.0.0.1, scraping the exporter every second. */
export class LoopbackPrometheus {
    private constructor(
        private readonly process: ChildProcess,
        private readonly dir: string,
        readonly url: string,
    ) {}

    static async start(exporterPort: number, port = 39090): Promise<LoopbackPrometheus> {
        const built = spawnSync("bash", [path.join(ROOT, "scripts/prometheus.sh"), "path"], { encoding: "utf8" });
        if (built.status !== 0) throw new Error(`scripts/prometheus.sh: ${built.stderr}`);
        const binary = built.stdout.trim();
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "promote-prometheus-"));
        fs.writeFileSync(
            path.join(dir, "prometheus.yml"),
            [
                "global:",
                "  scrape_interval: 1s",
                "  evaluation_interval: 1s",
                "scrape_configs:",
                "  - job_name: canary",
                "    static_configs:",
                `      - targets: ["127.0.0.1:${exporterPort}"]`,
                "",
            ].join("\n"),
        );
        const child = spawn(
            binary,
            [
                `--config.file=${path.join(dir, "prometheus.yml")}`,
                `--storage.tsdb.path=${path.join(dir, "data")}`,
                `--web.listen-address=127.0.0.1:${port}`,
                "--web.console.templates=/dev/null",
                "--web.console.libraries=/dev/null",
            ],
            { stdio: ["ignore", "ignore", "pipe"] },
        );
        let log = "";
        child.stderr!.on("data", (chunk) => (log = (log + chunk).slice(-4000)));
        const prometheus = new LoopbackPrometheus(child, dir, `http://127.0.0.1:${port}`);
        const deadline = Date.now() + 30_000;
        for (;;) {
            if (child.exitCode !== null) throw new Error(`prometheus exited (${child.exitCode}): ${log}`);
            const ready = await fetch(`${prometheus.url}/-/ready`).then(
                (r) => r.ok,
                () => false,
            );
            if (ready) break;
            if (Date.now() > deadline) throw new Error(`prometheus was not ready after 30 s: ${log}`);
            await new Promise((r) => setTimeout(r, 200));
        }
        return prometheus;
    }

    async stop(): Promise<void> {
        if (this.process.exitCode === null) {
            const exited = new Promise((r) => this.process.once("exit", r));
            this.process.kill("SIGTERM");
            await exited;
        }
        fs.rmSync(this.dir, { recursive: true, force: true });
    }
}
