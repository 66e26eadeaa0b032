/**
 * Gateway API's CRDs: the program installs the standard channel at the version Istio's module
 * requires (tools/istio/go.mod, the Istio the tests build and run), only where the stack uses the
 * API and the cluster does not provide them, retained when the stack stops using them, and every
 * Gateway API object waits for them.
 */
import { strict as assert } from "assert";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { runProgram, RegisteredResource } from "../mock/runProgram";
import { standardChannel } from "../rig/vendor-gateway-api-crds";
import {
    GATEWAY_API_CRDS_FILE,
    gatewayApiBundleVersion,
    GatewayApiChannelFile,
    gatewayApiVersionOfIstio,
} from "../stages/gatewayApi";
import { APP_VERSION_HEADER } from "../stages/names";

const ROOT = path.resolve(__dirname, "..");
const vendored = JSON.parse(fs.readFileSync(path.join(ROOT, GATEWAY_API_CRDS_FILE), "utf8")) as GatewayApiChannelFile;
const istioGoMod = fs.readFileSync(path.join(ROOT, "tools/istio/go.mod"), "utf8");

/** The Go module's directory when Go can give it (the module proxy or the cache); undefined otherwise. */
function moduleDir(version: string): string | undefined {
    try {
        const out = execFileSync("go", ["mod", "download", "-json", `sigs.k8s.io/gateway-api@${version}`], {
            cwd: path.join(ROOT, "tools/istio"),
            encoding: "utf8",
            stdio: ["ignore", "pipe", "pipe"],
            env: { ...process.env, PATH: `${process.env.PATH}:/usr/local/go/bin` },
        });
        return (JSON.parse(out) as { Dir: string }).Dir;
    } catch {
        return undefined;
    }
}

const GATEWAY_API_KINDS = ["Gateway", "HTTPRoute"];
const byType = (run: { resources: RegisteredResource[] }, type: string) => run.resources.filter((r) => r.type === type);

describe("Gateway API's CRDs: the standard channel of the release Istio supports", () => {
    it("the vendored file is the version tools/istio/go.mod requires, standard channel, every CRD of one bundle version", () => {
        const version = gatewayApiVersionOfIstio(istioGoMod);
        assert.equal(vendored.version, version);
        assert.equal(vendored.channel, "standard");
        assert.equal(gatewayApiBundleVersion(vendored.objects), version);
        for (const o of vendored.objects.filter((x) => x.kind === "CustomResourceDefinition"))
            assert.equal(o.metadata.annotations?.["gateway.networking.k8s.io/channel"], "standard", o.metadata.name);
        const crds = vendored.objects.filter((o) => o.kind === "CustomResourceDefinition").map((o) => o.metadata.name);
        for (const kind of ["gateways", "httproutes", "gatewayclasses", "referencegrants", "grpcroutes"])
            assert.ok(crds.includes(`${kind}.gateway.networking.k8s.io`), `${kind} missing from ${crds.join(", ")}`);
    });

    it("the vendored file is exactly the module's standard channel (rig/vendor-gateway-api-crds.ts)", function () {
        const version = gatewayApiVersionOfIstio(istioGoMod);
        const dir = moduleDir(version);
        if (!dir) {
            // Go builds Istio's tools in every .ci/run, so under CI the module is always there.
            if (process.env.CI) assert.fail(`sigs.k8s.io/gateway-api@${version} could not be fetched with go`);
            console.log(`      (skipped: no Go or no module proxy to fetch sigs.k8s.io/gateway-api@${version})`);
            this.skip();
        }
        assert.deepEqual(standardChannel(dir, version), vendored);
    });

    it("control: the version check reads go.mod as written (a bumped requirement is caught)", () => {
        const bumped = istioGoMod.replace(/(sigs\.k8s\.io\/gateway-api) v[\d.]+/, "$1 v1.6.0");
        assert.notEqual(gatewayApiVersionOfIstio(bumped), vendored.version);
        assert.throws(() => gatewayApiVersionOfIstio("module x\n"), /requires no sigs.k8s.io\/gateway-api/);
    });
});

describe("Gateway API's CRDs in the program", () => {
    it("traffic.api=istio (the default): nothing of Gateway API is registered", async () => {
        const run = await runProgram({ stage: "canary" });
        assert.deepEqual(byType(run, "voting:traffic:GatewayApiCrds"), []);
        assert.deepEqual(byType(run, "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinitionPatch"), []);
        for (const kind of GATEWAY_API_KINDS)
            assert.deepEqual(byType(run, `kubernetes:gateway.networking.k8s.io/v1:${kind}`), []);
    });

    it("traffic.api=gateway-api: every object of the vendored channel, retained on delete, and every Gateway API object waits for them", async () => {
        const run = await runProgram({ stage: "canary", "traffic.api": "gateway-api" });
        const [component] = byType(run, "voting:traffic:GatewayApiCrds");
        assert.ok(component, "no GatewayApiCrds component");
        const children = run.resources.filter((r) => r.parent === component.urn);
        assert.deepEqual(
            children.map((r) => r.inputs.metadata?.name).sort(),
            vendored.objects.map((o) => o.metadata.name).sort(),
        );
        for (const child of children) {
            assert.ok(child.retainOnDelete, `${child.name} is not retained on delete`);
            assert.equal(child.inputs.status, undefined, `${child.name} sends a status`);
            // Switching back to gateway-api finds the retained objects: a plain create would fail
            // with AlreadyExists (provider 4.29 on); a forced server-side apply takes them over.
            assert.ok(child.type.endsWith("Patch"), `${child.name} is a ${child.type}, not a server-side apply patch`);
            assert.equal(child.inputs.metadata?.annotations?.["pulumi.com/patchForce"], "true", `${child.name}`);
        }
        const gatewayApiObjects = GATEWAY_API_KINDS.flatMap((kind) =>
            byType(run, `kubernetes:gateway.networking.k8s.io/v1:${kind}`),
        );
        assert.ok(gatewayApiObjects.length >= 2, "no Gateway and HTTPRoutes");
        // A dependency on a component is a dependency on each of its children.
        const crds = children.filter(
            (c) => c.type === "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinitionPatch",
        );
        assert.ok(crds.length > 0, "no CRD patches");
        for (const o of gatewayApiObjects)
            for (const crd of crds)
                assert.ok(o.dependencies.includes(crd.urn), `${o.name} does not wait for ${crd.name}`);
    });

    it("traffic.gatewayApiCrds=cluster: the cluster's own CRDs are left alone", async () => {
        const run = await runProgram({
            stage: "canary",
            "traffic.api": "gateway-api",
            "traffic.gatewayApiCrds": "cluster",
        });
        assert.deepEqual(byType(run, "voting:traffic:GatewayApiCrds"), []);
        assert.deepEqual(byType(run, "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinitionPatch"), []);
        assert.ok(byType(run, "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute").length > 0);
    });

    it("the Gateway is bound to the gateway Service the release makes (Istio's manual deployment), of the class set", async () => {
        const run = await runProgram({
            stage: "lockdown",
            "traffic.api": "gateway-api",
            "traffic.gatewayClass": "istio-managed",
            "istio.gatewayName": "edge",
            "istio.gatewayNamespace": "edge-system",
        });
        const [gateway] = byType(run, "kubernetes:gateway.networking.k8s.io/v1:Gateway");
        assert.equal(gateway.inputs.spec.gatewayClassName, "istio-managed");
        assert.deepEqual(gateway.inputs.spec.addresses, [
            { type: "Hostname", value: "edge.edge-system.svc.cluster.local" },
        ]);
        // Istio binds a Hostname address only to a Service in the Gateway's own namespace; the
        // listener takes routes from the app's namespace, and the ingress route names the Gateway's.
        assert.equal(gateway.inputs.metadata.namespace, "edge-system");
        assert.deepEqual(
            gateway.inputs.spec.listeners.map((l: any) => l.allowedRoutes),
            [
                {
                    namespaces: {
                        from: "Selector",
                        selector: { matchLabels: { "kubernetes.io/metadata.name": "voting" } },
                    },
                },
            ],
        );
        const ingressRoute = byType(run, "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute").find(
            (r) => r.inputs.metadata.name === "voting-app",
        );
        assert.deepEqual(ingressRoute?.inputs.spec.parentRefs, [
            { name: gateway.inputs.metadata.name, namespace: "edge-system", sectionName: "http" },
        ]);
    });
});

describe("the app contract Gateway API's mesh route relies on", () => {
    it("the header the mesh route matches is the one the app sends (app/src/app.ts), with its own version", () => {
        const source = fs.readFileSync(path.join(ROOT, "app/src/app.ts"), "utf8");
        const declared = /export const APP_VERSION_HEADER = "([^"]+)"/.exec(source);
        assert.ok(declared, "app/src/app.ts declares no APP_VERSION_HEADER");
        assert.equal(declared[1], APP_VERSION_HEADER);
        assert.match(source, /\[APP_VERSION_HEADER\]: config\.version/, "the app no longer sends its version");
    });
});
