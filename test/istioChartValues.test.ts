/**
 * Every Helm value the program (and the walk's webhook values) sets exists in the Istio charts the
 * rig installs: a value the chart does not read is silently ignored by Helm, so a renamed key in a
 * new Istio release would otherwise pass every other test. Istio's charts keep their defaults under
 * `_internal_defaults_do_not_set` (merged under the user's values by the charts' zzz_profile.yaml);
 * an empty map in the defaults (annotations, labels) is free-form.
 */
import { strict as assert } from "assert";
import { isHelmValues, ISTIO_CHARTS, IstioChart } from "../stages/istioCharts";
import { webhookValues } from "../e2e/istiod";
import { chartTemplates, chartValues, ChartRepository, rigChartRepository } from "./support/chartRepository";
import { run } from "./support/runs";

/**
 * Dotted paths of `values` the chart neither declares in its defaults nor reads in its templates
 * (`.Values.<path>`: the istiod chart reads `base.validationURL` without declaring it).
 */
export function unknownValues(
    values: Record<string, unknown>,
    defaults: Record<string, unknown> | undefined,
    templates: string,
    at = "",
): string[] {
    const unknown: string[] = [];
    const referenced = (here: string) =>
        new RegExp(`\\.Values\\.${here.replace(/\./g, "\\.")}(?![A-Za-z0-9_])`).test(templates);
    for (const [key, value] of Object.entries(values)) {
        const here = at ? `${at}.${key}` : key;
        const known = defaults?.[key];
        if (defaults && key in defaults) {
            if (isHelmValues(value) && isHelmValues(known) && Object.keys(known).length > 0)
                unknown.push(...unknownValues(value, known, templates, here));
        } else if (!referenced(here)) unknown.push(here);
        else if (isHelmValues(value)) unknown.push(...unknownValues(value, undefined, templates, here));
    }
    return unknown;
}

function defaultsOf(values: Record<string, unknown>): Record<string, unknown> {
    const internal = values._internal_defaults_do_not_set;
    return isHelmValues(internal) ? internal : values;
}

describe("the Helm values the program sets exist in Istio's charts (the rig's)", function () {
    let repository: ChartRepository;
    const programValues: Partial<Record<IstioChart, Record<string, unknown>>> = {};

    before(async function () {
        const found = rigChartRepository();
        if ("missing" in found) {
            if (process.env.CI) throw new Error(`under CI the charts must be there: ${found.missing}`);
            process.stderr.write(`skipped: the chart values check needs Istio's charts (${found.missing})\n`);
            this.skip();
        }
        repository = found as ChartRepository;
        // aks mode: the gateway's Azure annotations are among the values; plus what the walk adds.
        const r = await run({
            stage: "deploy",
            "istio.values": JSON.stringify(webhookValues(repository.version)),
        });
        for (const release of r.resources.filter((x) => x.type === "kubernetes:helm.sh/v3:Release"))
            programValues[release.inputs.chart as IstioChart] = release.inputs.values;
    });

    for (const chart of ISTIO_CHARTS) {
        it(`${chart}: every value is one the chart reads`, () => {
            const defaults = defaultsOf(chartValues(repository, chart));
            assert.ok(programValues[chart], `no ${chart} release`);
            assert.deepEqual(
                unknownValues(programValues[chart]!, defaults, chartTemplates(repository, chart)),
                [],
                `values the ${chart} chart ${repository.version} does not have (Helm ignores them)`,
            );
        });
    }

    it("control: a misplaced key (istiod's resources under pilot, as before Istio 1.24) is caught", () => {
        const defaults = defaultsOf(chartValues(repository, "istiod"));
        const templates = chartTemplates(repository, "istiod");
        assert.deepEqual(unknownValues({ pilot: { resources: { requests: { cpu: "1" } } } }, defaults, templates), [
            "pilot",
        ]);
        assert.deepEqual(unknownValues({ resources: { requestz: {} } }, defaults, templates), ["resources.requestz"]);
        assert.deepEqual(unknownValues({ base: { validationURLs: "x" } }, defaults, templates), [
            "base.validationURLs",
        ]);
        // Free-form maps take any key.
        const gateway = defaultsOf(chartValues(repository, "gateway"));
        const gatewayTemplates = chartTemplates(repository, "gateway");
        assert.deepEqual(
            unknownValues({ service: { annotations: { "any/thing": "x" } } }, gateway, gatewayTemplates),
            [],
        );
    });
});
