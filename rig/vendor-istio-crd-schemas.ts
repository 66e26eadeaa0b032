/**
 * Extracts the OpenAPI schemas of the Istio kinds this program creates from the CRDs in Istio's own
 * `base` chart (files/crd-all.gen.yaml, what the chart installs), the chart at the version the
 * rig installs (../shared/data/istio-<version>-helm-repo), into test/fixtures, so that the unit
 * tests validate against Istio's own schemas on machines without ../shared.
 *
 *   node -r ts-node/register/transpile-only rig/vendor-istio-crd-schemas.ts [base-<version>.tgz]
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";

/** The Istio release whose `base` chart the vendored schemas come from: the rig's charts. */
export const CRD_RELEASE = "1.31.0";
export const CRD_SOURCE = path.resolve(
    __dirname,
    "..",
    "..",
    "shared",
    "data",
    `istio-${CRD_RELEASE}-helm-repo`,
    `base-${CRD_RELEASE}.tgz`,
);
export const VENDORED = path.resolve(__dirname, "..", "test", "fixtures", "istio-crd-schemas.json");
export const KINDS: Record<string, string> = {
    "networking.istio.io/v1/Gateway": "gateways.networking.istio.io",
    "networking.istio.io/v1/VirtualService": "virtualservices.networking.istio.io",
    "networking.istio.io/v1/DestinationRule": "destinationrules.networking.istio.io",
    "security.istio.io/v1/PeerAuthentication": "peerauthentications.security.istio.io",
    "security.istio.io/v1/AuthorizationPolicy": "authorizationpolicies.security.istio.io",
};

/** The text of the files inside a packaged chart (.tgz) that match `pattern` (tar's wildcards), concatenated. */
export function chartFiles(chartTgz: string, pattern: string): string {
    return execFileSync("tar", ["-xzOf", chartTgz, "--wildcards", pattern], {
        encoding: "utf8",
        maxBuffer: 64 * 1024 * 1024,
    });
}

/** The CRDs file inside a packaged `base` chart (.tgz), as the chart installs it. */
export function crdsOfBaseChart(chartTgz: string): string {
    return chartFiles(chartTgz, "base/files/crd-all.gen.yaml");
}

export function extractSchemas(crdYaml: string): Record<string, unknown> {
    const crds = YAML.parseAllDocuments(crdYaml)
        .map((d) => d.toJS())
        .filter((d) => d?.kind === "CustomResourceDefinition");
    const out: Record<string, unknown> = {};
    for (const [key, crdName] of Object.entries(KINDS)) {
        const version = key.split("/")[1];
        const crd = crds.find((c) => c.metadata.name === crdName);
        const served = crd?.spec.versions.find((v: any) => v.name === version && v.served);
        if (!served) throw new Error(`${crdName} has no served version ${version}`);
        out[key] = served.schema.openAPIV3Schema;
    }
    return out;
}

if (require.main === module) {
    const source = process.argv[2] ?? CRD_SOURCE;
    const schemas = extractSchemas(crdsOfBaseChart(source));
    const release = /base-(\d+\.\d+\.\d+)\.tgz$/.exec(source)?.[1] ?? CRD_RELEASE;
    fs.writeFileSync(
        VENDORED,
        JSON.stringify({ source: `Istio ${release} CRDs (base chart)`, schemas }, null, 1) + "\n",
    );
    console.log(`wrote ${Object.keys(schemas).length} schemas to ${path.relative(process.cwd(), VENDORED)}`);
}
