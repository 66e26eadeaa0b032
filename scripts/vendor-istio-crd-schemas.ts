/**
 * Extracts the OpenAPI schemas of the Istio kinds this program creates from Istio's CRDs
 * (../shared/data/istio-1.30.3-crds.yaml) into test/fixtures, so that the unit tests validate
 * against Istio 1.30.3's own schemas on machines without ../shared.
 *
 *   node -r ts-node/register/transpile-only scripts/vendor-istio-crd-schemas.ts [crds.yaml]
 */
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";

export const CRD_SOURCE = path.resolve(__dirname, "..", "..", "shared", "data", "istio-1.30.3-crds.yaml");
export const VENDORED = path.resolve(__dirname, "..", "test", "fixtures", "istio-1.30.3-crd-schemas.json");
export const KINDS: Record<string, string> = {
    "networking.istio.io/v1/Gateway": "gateways.networking.istio.io",
    "networking.istio.io/v1/VirtualService": "virtualservices.networking.istio.io",
    "networking.istio.io/v1/DestinationRule": "destinationrules.networking.istio.io",
    "security.istio.io/v1/PeerAuthentication": "peerauthentications.security.istio.io",
};

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
    const schemas = extractSchemas(fs.readFileSync(source, "utf8"));
    fs.writeFileSync(VENDORED, JSON.stringify({ source: "Istio 1.30.3 CRDs", schemas }, null, 1) + "\n");
    console.log(`wrote ${Object.keys(schemas).length} schemas to ${path.relative(process.cwd(), VENDORED)}`);
}
