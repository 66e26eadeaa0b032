/**
 * The ingress gateway's Service, as Istio's `gateway` chart names it (its `name` value, else the
 * release name), is what the program reads for the stack's ingress address; only a LoadBalancer
 * Service has one. The mock runtime knows only the Services the chart's releases make, so a read of
 * any other name fails here as it would in a cluster.
 */
import { strict as assert } from "assert";
import { ProgramError } from "../mock/runProgram";
import { gatewayServiceName } from "../stages/istioCharts";
import { APP_NAMESPACE } from "../stages/names";
import { run } from "./support/runs";

const gatewayRead = (r: Awaited<ReturnType<typeof run>>) =>
    r.resources.find((x) => x.read && x.type === "kubernetes:core/v1:Service")!;
const gatewaySelector = (r: Awaited<ReturnType<typeof run>>) =>
    r.resources.find((x) => x.inputs?.kind === "Gateway" && x.inputs?.metadata?.namespace === APP_NAMESPACE)!.inputs
        .spec.selector;

describe("the ingress gateway's Service, named as the chart names it", () => {
    it("the chart's rule: the name value, else the release name", () => {
        assert.equal(gatewayServiceName("istio-ingressgateway"), "istio-ingressgateway");
        assert.equal(gatewayServiceName("istio-ingressgateway", { name: "edge" }), "edge");
        assert.equal(gatewayServiceName("gw", { name: "" }), "gw");
    });

    for (const [values, service, selector] of [
        [undefined, "istio-ingressgateway", "ingressgateway"],
        [{ name: "edge-gateway" }, "edge-gateway", "edge-gateway"],
        [{ name: "istio-edge" }, "istio-edge", "edge"],
    ] as const) {
        it(`istio.values.gateway.name ${values ? values.name : "unset"}: reads Service istio-ingress/${service}, the Gateway selects istio=${selector}, the stack has its address`, async () => {
            const r = await run({
                stage: "deploy",
                ...(values ? { "istio.values": JSON.stringify({ gateway: values }) } : {}),
            });
            assert.equal(gatewayRead(r).id, `istio-ingress/${service}`);
            assert.deepEqual(gatewaySelector(r), { istio: selector });
            assert.equal(r.outputs.ingressUrl, "http://203.0.113.10/");
        });
    }

    it("control: reading the release's name instead (the program before this fix) fails once the name value differs", async () => {
        // eslint-disable-next-line @typescript-eslint/no-require-imports -- the module object, to swap one export
        const charts = require("../stages/istioCharts") as { gatewayServiceName: typeof gatewayServiceName };
        const chartRule = charts.gatewayServiceName;
        charts.gatewayServiceName = (releaseName: string) => releaseName;
        try {
            await assert.rejects(
                run({ stage: "deploy", "istio.values": JSON.stringify({ gateway: { name: "edge" } }) }),
                (err: ProgramError) => /services "istio-ingressgateway" not found/.test(err.message),
            );
        } finally {
            charts.gatewayServiceName = chartRule;
        }
    });

    for (const type of ["NodePort", "ClusterIP"]) {
        it(`a ${type} gateway Service has no load-balancer address: ingressIp and ingressUrl are absent, not made up`, async () => {
            const r = await run({ stage: "deploy", "istio.gatewayServiceType": type });
            assert.equal(r.outputs.ingressIp, undefined);
            assert.equal(r.outputs.ingressUrl, undefined);
        });
    }
});
