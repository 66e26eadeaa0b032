/**
 * `node -r ts-node/register/transpile-only rig/vendor-gateway-api-crds.ts [--check]`
 *
 * Writes crds/gateway-api-standard.json: Gateway API's standard channel (the CRDs and the
 * safe-upgrades ValidatingAdmissionPolicy, in the order of the release's own kustomization) from
 * the sigs.k8s.io/gateway-api Go module at the version Istio's module requires (tools/istio/go.mod:
 * the Istio whose generator, analyzers and istiod the tests run), as JSON: the program reads it at
 * every run, and parsing the 1 MB of YAML took 0.3 s. --check compares instead of writing and exits
 * 1 when they differ. Needs Go (the module is fetched from the module proxy).
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { parse, parseAllDocuments } from "yaml";
import { GATEWAY_API_CRDS_FILE, GatewayApiChannelFile, gatewayApiVersionOfIstio } from "../stages/gatewayApi";

const root = path.resolve(__dirname, "..");

/** The standard channel's objects, in the order of the release's kustomization (as its standard-install.yaml). */
export function standardChannel(moduleDir: string, version: string): GatewayApiChannelFile {
    const kustomization = parse(fs.readFileSync(path.join(moduleDir, "config/crd/kustomization.yaml"), "utf8")) as {
        resources: string[];
    };
    const files = kustomization.resources.filter((r) => r.startsWith("standard/"));
    if (files.length === 0) throw new Error(`no standard/ resources in ${moduleDir}/config/crd/kustomization.yaml`);
    return {
        source: `sigs.k8s.io/gateway-api@${version}: config/crd/${files.join(", config/crd/")}`,
        version,
        channel: "standard",
        objects: files.flatMap((f) =>
            parseAllDocuments(fs.readFileSync(path.join(moduleDir, "config/crd", f), "utf8"))
                .map((doc) => doc.toJS())
                .filter((o) => o && typeof o === "object"),
        ),
    };
}

/** The module's directory in the Go module cache (downloaded through the proxy when absent). */
export function gatewayApiModuleDir(version: string): string {
    const out = execFileSync("go", ["mod", "download", "-json", `sigs.k8s.io/gateway-api@${version}`], {
        cwd: path.join(root, "tools/istio"),
        encoding: "utf8",
    });
    return (JSON.parse(out) as { Dir: string }).Dir;
}

if (require.main === module) {
    const version = gatewayApiVersionOfIstio(fs.readFileSync(path.join(root, "tools/istio/go.mod"), "utf8"));
    const wanted = `${JSON.stringify(standardChannel(gatewayApiModuleDir(version), version), null, 1)}\n`;
    const file = path.join(root, GATEWAY_API_CRDS_FILE);
    if (process.argv.includes("--check")) {
        const same = fs.existsSync(file) && fs.readFileSync(file, "utf8") === wanted;
        console.log(same ? `${GATEWAY_API_CRDS_FILE} is Gateway API ${version}'s standard channel` : "differs");
        process.exit(same ? 0 : 1);
    }
    fs.writeFileSync(file, wanted);
    console.log(`wrote ${GATEWAY_API_CRDS_FILE} (Gateway API ${version}, standard channel)`);
}
