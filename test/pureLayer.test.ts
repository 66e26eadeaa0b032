/**
 * The layering: `stages/` is plain data and functions (no Pulumi), holding every name, version and
 * image the program uses; `components/` only turns it into resources; the defaults users see in
 * Pulumi.yaml are the ones the model names.
 */
import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as YAML from "yaml";
import { DEFAULT_ISTIO_VERSION, ISTIO_CHART_REPOSITORY } from "../stages/istioReleases";
import { DEFAULT_GATEWAY, PROJECT } from "../stages/names";

const ROOT = path.resolve(__dirname, "..");
const sources = (folder: string) =>
    fs
        .readdirSync(path.join(ROOT, folder))
        .filter((f) => f.endsWith(".ts"))
        .map((f) => path.join(folder, f));

describe("one pure layer", () => {
    it("nothing in stages/ imports Pulumi (or a component)", () => {
        let seen = 0;
        for (const file of sources("stages")) {
            const text = fs.readFileSync(path.join(ROOT, file), "utf8");
            const imports = [
                ...text.matchAll(/^import[^;]*?from\s+"([^"]+)"/gms),
                ...text.matchAll(/require\("([^"]+)"\)/g),
            ].map((m) => m[1]);
            for (const from of imports)
                assert.ok(
                    from.startsWith("./"),
                    `${file} imports ${from}: stages/ is plain TypeScript over its own modules`,
                );
            seen += imports.length;
        }
        assert.ok(seen > 0, "no imports found in stages/ at all: is the pattern still right?");
    });

    it("components/ export ComponentResources and their argument types, no helpers", () => {
        for (const file of sources("components")) {
            // eslint-disable-next-line @typescript-eslint/no-require-imports -- each file by its path, in a loop
            const exported = require(path.join(ROOT, file)) as Record<string, unknown>;
            assert.ok(Object.keys(exported).length > 0, `${file} exports nothing`);
            for (const [name, value] of Object.entries(exported)) {
                const isComponent = typeof value === "function" && value.prototype instanceof pulumi.ComponentResource;
                assert.ok(
                    isComponent,
                    `${file} exports ${name}, which is not a ComponentResource: pure helpers and names live in stages/`,
                );
            }
        }
    });

    it("Pulumi.yaml's project name, gateway and Istio defaults are the model's", () => {
        const project = YAML.parse(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8"));
        assert.equal(project.name, PROJECT);
        assert.equal(project.config["istio.gatewayName"].default, DEFAULT_GATEWAY.name);
        assert.equal(project.config["istio.gatewayNamespace"].default, DEFAULT_GATEWAY.namespace);
        assert.equal(String(project.config["istio.version"].default), DEFAULT_ISTIO_VERSION);
        assert.equal(project.config["istio.chartRepository"].default, ISTIO_CHART_REPOSITORY);
    });
});
