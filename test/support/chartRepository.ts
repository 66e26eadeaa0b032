/**
 * The Istio charts the rig installs: a static Helm chart repository (index.yaml with relative URLs
 * and the packaged charts), named by E2E_ISTIO_CHARTS (GitHub's npm test job downloads Istio's
 * charts from Istio's live repository into one), else the newest `istio-<version>-helm-repo` in
 * ../shared/data. The unit suite reads the charts' values from it; the end-to-end walk serves it on
 * loopback and installs the version its index holds.
 */
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { chartFiles } from "../../rig/vendor-istio-crd-schemas";
import { ISTIO_CHARTS, IstioChart } from "../../stages/istioCharts";

export const CHARTS_ENV = "E2E_ISTIO_CHARTS";
const SHARED_DATA = path.resolve(__dirname, "..", "..", "..", "shared", "data");

export interface ChartRepository {
    dir: string;
    /** The one version of base, istiod and gateway the index holds. */
    version: string;
    /** Each chart's packaged file. */
    files: Record<IstioChart, string>;
}

function versionKey(v: string): number[] {
    return v.split(".").map(Number);
}

/** Where the rig's charts are, or why there are none (a user's clone without ../shared). */
export function rigChartRepository(): ChartRepository | { missing: string } {
    let dir = process.env[CHARTS_ENV];
    if (dir) {
        if (!fs.existsSync(path.join(dir, "index.yaml"))) throw new Error(`${CHARTS_ENV}=${dir} holds no index.yaml`);
    } else {
        const found = fs.existsSync(SHARED_DATA)
            ? fs
                  .readdirSync(SHARED_DATA)
                  .map((name) => /^istio-(\d+\.\d+\.\d+)-helm-repo$/.exec(name))
                  .filter((m): m is RegExpExecArray => Boolean(m))
                  .sort((a, b) => {
                      const [x, y] = [versionKey(a[1]), versionKey(b[1])];
                      return y[0] - x[0] || y[1] - x[1] || y[2] - x[2];
                  })
            : [];
        if (!found.length) return { missing: `no ${CHARTS_ENV} and no istio-<version>-helm-repo in ${SHARED_DATA}` };
        dir = path.join(SHARED_DATA, found[0][0]);
    }
    const index = YAML.parse(fs.readFileSync(path.join(dir, "index.yaml"), "utf8")) as {
        entries: Record<string, { version: string; urls: string[] }[]>;
    };
    const versions = new Set<string>();
    const files = {} as Record<IstioChart, string>;
    for (const chart of ISTIO_CHARTS) {
        const entries = index.entries?.[chart] ?? [];
        if (entries.length !== 1)
            throw new Error(`${dir}/index.yaml: expected one ${chart} chart, found ${entries.length}`);
        versions.add(String(entries[0].version));
        files[chart] = path.join(dir, entries[0].urls[0]);
    }
    if (versions.size !== 1) throw new Error(`${dir}/index.yaml: charts at different versions ${[...versions]}`);
    return { dir, version: [...versions][0], files };
}

/** A packaged chart's values.yaml, parsed. */
export function chartValues(repository: ChartRepository, chart: IstioChart): Record<string, unknown> {
    return YAML.parse(chartFiles(repository.files[chart], `${chart}/values.yaml`)) as Record<string, unknown>;
}

/** The text of a packaged chart's templates (what reads `.Values`). */
export function chartTemplates(repository: ChartRepository, chart: IstioChart): string {
    return chartFiles(repository.files[chart], `${chart}/templates/*`);
}
