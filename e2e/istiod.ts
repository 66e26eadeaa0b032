/**
 * Istio's control plane for the throwaway API server: the real istiod (`pilot-discovery`, built by
 * scripts/istio-tools.sh) runs on loopback against the API server, and the charts the program
 * installs point their webhooks at it (istio.values: the istiod chart's istiodRemote.injectionURL,
 * the base and istiod charts' base.validationURL). So every Istio object a `pulumi up` applies is
 * validated by Istio, and every pod in an injection-enabled namespace is created with its sidecar.
 *
 * What stays a stand-in: the istiod Deployment the chart creates gets kwok's simulated pods (no
 * container runs); the process here does its work. No Envoy runs either: the sidecars are in the
 * pods' specs, and nothing executes them.
 */
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as https from "https";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import { ISTIOCTL } from "../test/support/istioctl";
import { KubeClient } from "./kube";

const ROOT = path.resolve(__dirname, "..");
export const PILOT_DISCOVERY = process.env.PILOT_DISCOVERY || path.join(ROOT, ".tools", "bin", "pilot-discovery");

/** Loopback ports of the local istiod (webhooks on 15017, as in the cluster; the rest moved off the defaults). */
export const ISTIOD_PORTS = {
    webhooks: Number(process.env.E2E_ISTIOD_WEBHOOK_PORT ?? 15017),
    http: Number(process.env.E2E_ISTIOD_HTTP_PORT ?? 15080),
    grpc: Number(process.env.E2E_ISTIOD_GRPC_PORT ?? 15010),
    secureGrpc: Number(process.env.E2E_ISTIOD_SECURE_GRPC_PORT ?? 15012),
    monitoring: Number(process.env.E2E_ISTIOD_MONITORING_PORT ?? 15014),
};

/**
 * The stack setting istio.values that points the charts' webhooks at the local istiod. istiod's
 * serving certificate covers "localhost" (ISTIOD_CUSTOM_HOST) and it patches its CA bundle into
 * both webhook configurations, as it does for the in-cluster Service.
 *
 * The proxy_init image is given as a full reference, the one istiod `istioVersion` computes by
 * itself (the chart's hub, its `proxy_init.image`, the version): the 1.31 injection template asks
 * istiod for `.ProxyInitImage` unless the value holds a "/", and the loopback istiod, built from
 * Istio's master of April 2026 (TESTING.md, "Which Istio the tests run"), predates that field. Pods
 * get the same image either way; this only keeps the template from asking.
 */
export function webhookValues(istioVersion: string): Record<string, unknown> {
    const base = `https://localhost:${ISTIOD_PORTS.webhooks}`;
    return {
        base: { base: { validationURL: `${base}/validate` } },
        istiod: {
            istiodRemote: { injectionURL: `${base}/inject` },
            base: { validationURL: `${base}/validate` },
            global: { proxy_init: { image: `docker.io/istio/proxyv2:${istioVersion}` } },
        },
    };
}

export class LoopbackIstiod {
    private process?: ChildProcess;
    private readonly logFile: string;
    private stopped = false;

    private constructor(private readonly workDir: string) {
        this.logFile = path.join(workDir, "pilot-discovery.log");
    }

    static available(): boolean {
        return fs.existsSync(PILOT_DISCOVERY) && fs.existsSync(ISTIOCTL);
    }

    /**
     * Starts istiod as soon as the istiod chart's ConfigMaps exist (the injector reads its templates
     * from `istio-sidecar-injector` at start-up, and skips injection for good if it is missing),
     * that is, in the middle of the first `pulumi up`, between the istiod and gateway releases, as
     * istiod's own pods would start in a cluster. Returns at once; `ready()` waits.
     */
    static startWhenInstalled(kube: KubeClient, kubeconfig: string): LoopbackIstiod {
        const istiod = new LoopbackIstiod(fs.mkdtempSync(path.join(os.tmpdir(), "aks-istio-e2e-istiod-")));
        istiod.starting = istiod.waitAndStart(kube, kubeconfig);
        istiod.starting.catch(() => undefined);
        return istiod;
    }

    private starting: Promise<void> = Promise.resolve();

    private async waitAndStart(kube: KubeClient, kubeconfig: string): Promise<void> {
        for (;;) {
            if (this.stopped) return;
            const [mesh, injector] = await Promise.all([
                kube.get("ConfigMap", "istio-system", "istio").catch(() => undefined),
                kube.get("ConfigMap", "istio-system", "istio-sidecar-injector").catch(() => undefined),
            ]);
            if (mesh && injector) break;
            await new Promise((r) => setTimeout(r, 250));
        }
        const bind = (port: number) => `127.0.0.1:${port}`;
        const log = fs.openSync(this.logFile, "a");
        this.process = spawn(
            PILOT_DISCOVERY,
            [
                "discovery",
                "--kubeconfig",
                kubeconfig,
                "--httpAddr",
                bind(ISTIOD_PORTS.http),
                "--httpsAddr",
                bind(ISTIOD_PORTS.webhooks),
                "--grpcAddr",
                bind(ISTIOD_PORTS.grpc),
                "--secureGRPCAddr",
                bind(ISTIOD_PORTS.secureGrpc),
                "--monitoringAddr",
                bind(ISTIOD_PORTS.monitoring),
                "--domain",
                "cluster.local",
            ],
            {
                cwd: this.workDir, // istiod writes its DNS certificate under ./var/run/secrets
                env: {
                    ...process.env,
                    KUBECONFIG: kubeconfig,
                    POD_NAME: "istiod-e2e-loopback",
                    POD_NAMESPACE: "istio-system",
                    SERVICE_ACCOUNT: "istiod",
                    REVISION: "default",
                    CLUSTER_ID: "Kubernetes",
                    PILOT_CERT_PROVIDER: "istiod",
                    ISTIOD_CUSTOM_HOST: "localhost",
                },
                stdio: ["ignore", log, log],
            },
        );
        fs.closeSync(log);
        this.process.on("exit", (code, signal) => {
            if (!this.stopped)
                process.stderr.write(`e2e: pilot-discovery exited (${code ?? signal}); its log: ${this.logFile}\n`);
        });
    }

    /** Waits until istiod answers /ready (its webhooks serve from then on). */
    async ready(seconds = 120): Promise<void> {
        const deadline = Date.now() + seconds * 1000;
        for (;;) {
            await this.starting;
            if (this.process && this.process.exitCode !== null)
                throw new Error(`pilot-discovery exited with ${this.process.exitCode}: ${this.tail()}`);
            if (this.process && (await httpStatus(`http://127.0.0.1:${ISTIOD_PORTS.http}/ready`)) === 200) return;
            if (Date.now() > deadline) throw new Error(`istiod not ready after ${seconds}s: ${this.tail()}`);
            await new Promise((r) => setTimeout(r, 250));
        }
    }

    get running(): boolean {
        return Boolean(this.process && this.process.exitCode === null);
    }

    /** A counter from istiod's Prometheus endpoint, summed over its label sets (0 when absent). */
    async counter(name: string): Promise<number> {
        return (await this.counters([name]))[name];
    }

    /** Several counters from one read of istiod's Prometheus endpoint, each summed over its label sets. */
    async counters<N extends string>(names: N[]): Promise<Record<N, number>> {
        const text = await httpText(`http://127.0.0.1:${ISTIOD_PORTS.monitoring}/metrics`);
        const totals = Object.fromEntries(names.map((n) => [n, 0])) as Record<N, number>;
        const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? ([0-9.e+-]+)$/;
        for (const line of text.split("\n")) {
            const m = sample.exec(line);
            if (m && m[1] in totals) totals[m[1] as N] += Number(m[3]);
        }
        return totals;
    }

    tail(lines = 30): string {
        try {
            return fs.readFileSync(this.logFile, "utf8").trim().split("\n").slice(-lines).join("\n");
        } catch {
            return "(no log)";
        }
    }

    async stop(): Promise<void> {
        this.stopped = true;
        const child = this.process;
        if (child && child.exitCode === null) {
            const exited = new Promise((r) => child.once("exit", r));
            child.kill("SIGTERM");
            const timer = setTimeout(() => child.kill("SIGKILL"), 10000);
            await exited;
            clearTimeout(timer);
        }
        if (!process.env.E2E_KEEP_LOGS) fs.rmSync(this.workDir, { recursive: true, force: true });
    }
}

function httpStatus(url: string): Promise<number> {
    return new Promise((resolve) => {
        const req = (url.startsWith("https") ? https : http).get(
            url,
            { timeout: 2000, rejectUnauthorized: false },
            (res) => {
                res.resume();
                resolve(res.statusCode ?? 0);
            },
        );
        req.on("timeout", () => req.destroy());
        req.on("error", () => resolve(0));
    });
}

function httpText(url: string): Promise<string> {
    return new Promise((resolve, reject) => {
        http.get(url, { timeout: 5000 }, (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (c) => chunks.push(c));
            res.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
        }).on("error", reject);
    });
}
