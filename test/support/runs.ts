import { appObjects, KubernetesObject, ProgramRun, runProgram, RunOptions, StackConfig } from "../../mock/runProgram";
import { APP_NAMESPACE, DEFAULT_GATEWAY } from "../../stages/names";
import type { TrafficApi } from "../../stages/traffic/router";
import { Cluster } from "./mesh";

const cache = new Map<string, Promise<ProgramRun>>();
let queue: Promise<unknown> = Promise.resolve();

/** Runs the program once per distinct config (runs are serialised: the mock runtime is global). */
export function run(config: StackConfig, options: RunOptions = {}): Promise<ProgramRun> {
    const key = JSON.stringify([Object.entries(config).sort(), options]);
    let result = cache.get(key);
    if (!result) {
        result = queue.then(() => runProgram(config, {}, options));
        queue = result.catch(() => undefined);
        cache.set(key, result);
    }
    return result;
}

export const runStage = (stage: string, extra: StackConfig = {}) => run({ stage, ...extra });

/** The traffic API's setting: nothing for istio (Pulumi.yaml's default, so istio's runs stay the ones cached above). */
export const apiConfig = (api: TrafficApi): StackConfig => (api === "istio" ? {} : { "traffic.api": api });
/** runStage in one traffic API. */
export const runStageIn = (api: TrafficApi, stage: string, extra: StackConfig = {}) =>
    runStage(stage, { ...extra, ...apiConfig(api) });
/** The first preview of a new stack at this stage: what the engine plans before anything exists. */
export const previewStage = (stage: string, extra: StackConfig = {}) => run({ stage, ...extra }, { preview: true });

/**
 * The labels Istio's gateway chart gives the gateway pods of a release named `name`, written out
 * from the chart's templates (app: <name>, istio: <name without "istio-">), independently of the
 * program's own derivation.
 */
export function chartGatewayPodLabels(name: string): Record<string, string> {
    return {
        app: name,
        istio: name.startsWith("istio-") ? name.slice("istio-".length) : name,
        "sidecar.istio.io/inject": "true",
    };
}

/** The ports of the Service Istio's gateway chart makes (status, HTTP, HTTPS), written out from its values. */
export const CHART_GATEWAY_SERVICE_PORTS = [
    { name: "status-port", port: 15021, targetPort: 15021, protocol: "TCP" },
    { name: "http2", port: 80, targetPort: 80, protocol: "TCP" },
    { name: "https", port: 443, targetPort: 443, protocol: "TCP" },
];

/**
 * Objects of the app namespace (registered, mid-transition or read back from a cluster), as the
 * routing model takes them: the gateway release `gatewayName`'s pods (their labels, from the chart)
 * and its Service (the chart names it after the release, in the gateway namespace).
 */
export function clusterOfObjects(
    objects: KubernetesObject[],
    gatewayName: string = DEFAULT_GATEWAY.name,
    gatewayNamespace: string = DEFAULT_GATEWAY.namespace,
): Cluster {
    return {
        objects,
        namespace: APP_NAMESPACE,
        gatewayPodLabels: chartGatewayPodLabels(gatewayName),
        gatewayService: { name: gatewayName, namespace: gatewayNamespace },
    };
}

export function clusterOf(run: ProgramRun, gatewayName: string = DEFAULT_GATEWAY.name): Cluster {
    return clusterOfObjects(appObjects(run), gatewayName);
}

export function find(objects: KubernetesObject[], kind: string, name: string): KubernetesObject | undefined {
    return objects.find((o) => o.kind === kind && o.metadata.name === name);
}

export function names(objects: KubernetesObject[], kind: string): string[] {
    return objects
        .filter((o) => o.kind === kind)
        .map((o) => o.metadata.name)
        .sort();
}
