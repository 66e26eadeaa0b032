import { strict as assert } from "assert";
import { ProgramError, runProgram } from "../mock/runProgram";
import { parseStage } from "../stages/settings";

/** Runs the program with bad settings: it must throw a clear message and register nothing. */
async function rejects(config: Record<string, string>, ...expected: RegExp[]) {
    let error: unknown;
    try {
        await runProgram(config);
    } catch (err) {
        error = err;
    }
    assert.ok(
        error instanceof ProgramError,
        `expected the program to throw for ${JSON.stringify(config)}, got ${error}`,
    );
    for (const re of expected) assert.match(error.message, re);
    assert.deepEqual(
        error.registered.map((r) => `${r.type} ${r.name}`),
        [],
        "resources registered before the error",
    );
}

describe("bad settings stop the program before any resource is registered", () => {
    it("an unknown stage names the setting, the value and the valid stages", () =>
        rejects({ stage: "bogus" }, /aks-istio-canary:stage/, /"bogus"/, /deploy, update, lockdown, canary, finalize/));
    it("a stage number out of range", () => rejects({ stage: "6" }, /stage = "6"/, /1-5/));
    it("stage 0", () => rejects({ stage: "0" }, /stage = "0"/));
    for (const weight of ["101", "-1", "12.5", "ten", ""]) {
        it(`canaryWeight ${JSON.stringify(weight)}`, () =>
            rejects(
                { stage: "canary", canaryWeight: weight },
                /aks-istio-canary:canaryWeight/,
                /an integer from 0 to 100/,
            ));
    }
    for (const replicas of ["0", "-3", "1.5", "three"]) {
        it(`appReplicas ${JSON.stringify(replicas)}`, () =>
            rejects({ appReplicas: replicas }, /aks-istio-canary:appReplicas/, /an integer from 1 to 50/));
    }
    it("cluster.nodeCount 0", () => rejects({ "cluster.nodeCount": "0" }, /cluster\.nodeCount = "0"/));
    it("an unknown cluster mode lists the valid modes", () =>
        rejects({ "cluster.mode": "gke" }, /aks-istio-canary:cluster\.mode = "gke"/, /one of aks, kubeconfig/));
    it("istio.install that is not a boolean", () =>
        rejects({ "istio.install": "maybe" }, /istio\.install = "maybe"/, /true or false/));
    it("istio.version that is not a release", () =>
        rejects({ "istio.version": "latest" }, /istio\.version = "latest"/));
    it("a missing image registry", () => rejects({ "images.registry": "" }, /images\.registry = ""/, /registry/));
    it("the deleted sample images are refused", () =>
        rejects({ "images.registry": "mcr.microsoft.com/aks/samples/voting" }, /deleted in 2023/));
    it("an unknown traffic API lists the valid ones", () =>
        rejects({ "traffic.api": "smi" }, /aks-istio-canary:traffic\.api = "smi"/, /one of istio, gateway-api/));
    it("a GatewayClass name that is not a Kubernetes name", () =>
        rejects(
            { "traffic.api": "gateway-api", "traffic.gatewayClass": "Istio Class" },
            /traffic\.gatewayClass = "Istio Class"/,
            /GatewayClass name/,
        ));
    it("gateway-api on the AKS Istio add-on (ingress only) is refused, saying why", () =>
        rejects(
            { "traffic.api": "gateway-api", "istio.install": "false", "istio.revision": "asm-1-30" },
            /traffic\.api = "gateway-api"/,
            /Gateway API at the ingress only/,
        ));
    it("an unknown source of Gateway API's CRDs lists the valid ones", () =>
        rejects(
            { "traffic.api": "gateway-api", "traffic.gatewayApiCrds": "latest" },
            /traffic\.gatewayApiCrds = "latest"/,
            /one of install, cluster/,
        ));
    it("an unknown gateway Service type lists the valid ones", () =>
        rejects(
            { "istio.gatewayServiceType": "Ingress" },
            /istio\.gatewayServiceType = "Ingress"/,
            /LoadBalancer, NodePort, ClusterIP/,
        ));
    it("an Istio revision that is not a label value", () =>
        rejects(
            { "istio.install": "false", "istio.revision": "ASM 1.27" },
            /istio\.revision = "ASM 1.27"/,
            /asm-1-30/,
        ));
    it("an Istio revision while the program installs Istio itself", () =>
        rejects({ "istio.revision": "asm-1-27" }, /istio\.revision = "asm-1-27"/, /istio\.install=true/));
    it("istio.values that is not JSON or not an object", async () => {
        await rejects(
            { "istio.values": "{istiod: 1" },
            /istio\.values = "\{istiod: 1"/,
            /an object keyed by chart \(base, istiod, gateway\)/,
        );
        await rejects({ "istio.values": "[1]" }, /istio\.values = "\[1\]"/, /an object keyed by chart/);
    });
    it("istio.values for a chart the program does not install, or not an object", async () => {
        await rejects({ "istio.values": '{"cni":{}}' }, /istio\.values\.cni/, /the charts are base, istiod, gateway/);
        await rejects(
            { "istio.values": '{"istiod":"x"}' },
            /istio\.values\.istiod = "\\"x\\""/,
            /an object of Helm values/,
        );
    });
    it("istio.values with a null (it means different things across Kubernetes provider releases)", () =>
        rejects(
            { "istio.values.istiod.pilot.env": "{}", "istio.values": '{"gateway":{"labels":{"a":null}}}' },
            /istio\.values\.gateway\.labels\.a = "null"/,
            /4\.30/,
        ));
    it("istio.values while the program does not install Istio", () =>
        rejects(
            { "istio.install": "false", "istio.values": '{"istiod":{"a":1}}' },
            /istio\.values/,
            /istio\.install=false/,
        ));
    it("data.protect that is not a boolean", () =>
        rejects({ "data.protect": "yes" }, /data\.protect = "yes"/, /true or false/));
    it("aks mode with prebuilt images from the default (kind, loopback) registry is refused, naming images.registry", () =>
        rejects(
            { "images.build": "false" },
            /aks-istio-canary:images\.registry = "localhost:5001"/,
            /ImagePullBackOff/,
        ));
    for (const registry of ["127.0.0.1:5000", "localhost", "registry.localhost:5000/team", "[::1]:5000"]) {
        it(`aks mode with prebuilt images from ${registry} is refused`, () =>
            rejects(
                { "images.build": "false", "images.registry": registry },
                /images\.registry/,
                /AKS nodes can pull from/,
            ));
    }
    it("a bad setting in the canary stage changes nothing either", () =>
        rejects({ stage: "canary", canaryWeight: "250" }, /"250"/));
});

describe("good settings that look close to bad ones", () => {
    it("aks mode with prebuilt images from a real registry, and kubeconfig mode (kind) from the loopback default", async () => {
        await runProgram({ "images.build": "false", "images.registry": "myacr.azurecr.io" });
        await runProgram({ "images.build": "false", "cluster.mode": "kubeconfig" });
        await runProgram({ "cluster.mode": "kubeconfig", "istio.install": "false", "istio.revision": "asm-1-27" });
    });
});

describe("stage names", () => {
    it("accepts names and numbers 1-5, any case, trimmed", () => {
        assert.equal(parseStage("deploy"), "deploy");
        assert.equal(parseStage(" Canary "), "canary");
        assert.deepEqual(["1", "2", "3", "4", "5"].map(parseStage), [
            "deploy",
            "update",
            "lockdown",
            "canary",
            "finalize",
        ]);
    });
    it("the number and the name give the same program", async () => {
        const byNumber = await runProgram({ stage: "4" });
        const byName = await runProgram({ stage: "canary" });
        assert.deepEqual(
            byNumber.resources.map((r) => r.inputs),
            byName.resources.map((r) => r.inputs),
        );
        assert.equal(byNumber.outputs.stage, "canary");
    });
});
