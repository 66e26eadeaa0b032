/**
 * Istio's support windows and chart repository, as data the program warns from at every preview
 * (stages/istioReleases.ts). Each case runs with an injected clock; the last ones run the program
 * under the mock runtime and on today's date, as `pulumi preview` does.
 */
import { strict as assert } from "assert";
import {
    DEFAULT_ISTIO_VERSION,
    ISTIO_CHART_REPOSITORY,
    ISTIO_MINORS,
    istioReleaseWarnings,
    minorOf,
    RETIRED_CHART_REPOSITORIES,
} from "../stages/istioReleases";
import { run } from "./support/runs";

const day = (iso: string) => new Date(`${iso}T12:00:00Z`);
const live = { install: true, chartRepository: ISTIO_CHART_REPOSITORY };
const warnings = (version: string, today: string, extra: Partial<typeof live & { kubernetesVersion: string }> = {}) =>
    istioReleaseWarnings({ ...live, version, ...extra }, day(today));

describe("Istio releases: support windows and the chart repository, warned at preview", () => {
    it("a supported minor far from its end of support: no warning", () => {
        assert.deepEqual(warnings("1.30.3", "2026-10-01"), []);
        assert.deepEqual(warnings("1.31.4", "2026-11-30"), []);
    });

    it("within 30 days of its end of support: a warning naming the date, the days left and the minor to move to", () => {
        const [w] = warnings("1.30.3", "2026-11-30");
        assert.match(w, /Istio 1\.30 leaves support on 2026-12-02 \(in 2 days\)/);
        assert.match(w, /move to Istio 1\.31: pulumi config set --path istio\.version 1\.31\.4/);
        // The window's first day, and the day before it.
        assert.equal(warnings("1.30.3", "2026-11-02").length, 1);
        assert.deepEqual(warnings("1.30.3", "2026-11-01"), []);
    });

    it("past its end of support: a warning that it gets no more fixes, naming the minor to move to", () => {
        const [w] = warnings("1.29.2", "2026-11-30");
        assert.match(w, /Istio 1\.29 left support on 2026-10-01 \(60 days ago\) and gets no more security fixes/);
        // 1.30 leaves support within days: the smallest step that is safe is 1.31.
        assert.match(w, /move to Istio 1\.31/);
        assert.match(warnings("1.28.0", "2026-07-15")[0], /left support on 2026-07-01.*move to Istio 1\.29/);
    });

    it("the last day of support is still 'leaves', the next day 'left'", () => {
        assert.match(warnings("1.30.0", "2026-12-02")[0], /leaves support on 2026-12-02 \(in 0 days\)/);
        assert.match(warnings("1.30.0", "2026-12-03")[0], /left support on 2026-12-02 \(1 days ago\)/);
    });

    it("a version not in the table is installed with a warning, never refused", () => {
        const [w] = warnings("1.40.1", "2026-11-30");
        assert.match(w, /istio\.version 1\.40\.1 is not in this program's table of Istio releases/);
        assert.match(w, /installed as asked/);
        assert.equal(warnings("1.20.0", "2026-11-30").length, 1);
    });

    it("the retired chart repository gets a warning naming the live one, with or without a trailing slash", () => {
        for (const old of [RETIRED_CHART_REPOSITORIES[0], `${RETIRED_CHART_REPOSITORIES[0]}/`]) {
            const [w] = istioReleaseWarnings(
                { install: true, version: "1.31.4", chartRepository: old },
                day("2026-11-30"),
            );
            assert.match(w, /istio-release\.storage\.googleapis\.com\/charts, which Istio retired/);
            assert.ok(w.includes(`istio.chartRepository ${ISTIO_CHART_REPOSITORY}`), w);
        }
        // A mirror of the user's own is not Istio's business: no warning.
        assert.deepEqual(
            istioReleaseWarnings(
                { install: true, version: "1.31.4", chartRepository: "https://charts.example.com/istio" },
                day("2026-11-30"),
            ),
            [],
        );
    });

    it("a Kubernetes version outside the minor's range is warned about", () => {
        assert.match(
            warnings("1.31.4", "2026-11-30", { kubernetesVersion: "1.31.5" })[0],
            /cluster\.kubernetesVersion 1\.31\.5 is outside the Kubernetes versions Istio 1\.31 supports \(1\.33 to 1\.37\)/,
        );
        assert.deepEqual(warnings("1.31.4", "2026-11-30", { kubernetesVersion: "1.34" }), []);
    });

    it("nothing is said when the program does not install Istio (istio.install=false)", () => {
        assert.deepEqual(
            istioReleaseWarnings(
                { install: false, version: "1.20.0", chartRepository: RETIRED_CHART_REPOSITORIES[0] },
                day("2026-11-30"),
            ),
            [],
        );
    });

    it("the table is ordered newest first, each minor's end of support six weeks after the release two minors on", () => {
        const minors = ISTIO_MINORS.map((m) => m.minor);
        assert.deepEqual(
            minors,
            [...minors].sort((a, b) => Number(b.split(".")[1]) - Number(a.split(".")[1])),
        );
        for (const [i, m] of ISTIO_MINORS.entries()) {
            const twoOn = ISTIO_MINORS[i - 2];
            if (!twoOn) {
                assert.equal(m.endOfSupport, undefined, `${m.minor}: no end of support before ${m.minor} + 2 is out`);
                continue;
            }
            // Istio's policy, checked where istio.io's table gives a date after the policy's start.
            if (m.minor >= "1.29") {
                const sixWeeksOn = new Date(Date.parse(twoOn.released) + 42 * 24 * 3600 * 1000);
                assert.equal(m.endOfSupport, sixWeeksOn.toISOString().slice(0, 10), m.minor);
            } else assert.ok(m.endOfSupport, m.minor);
        }
    });

    it("today: the default version and repository get no warning, and the table is not stale", () => {
        // Fails on the day the default nears its end of support, or when no minor has been added for
        // four months (Istio releases about quarterly): then update stages/istioReleases.ts.
        const today = new Date();
        assert.deepEqual(istioReleaseWarnings({ ...live, version: DEFAULT_ISTIO_VERSION }, today), []);
        const newest = ISTIO_MINORS[0];
        const age = (today.getTime() - Date.parse(newest.released)) / (24 * 3600 * 1000);
        assert.ok(age < 120, `the newest minor in the table, ${newest.minor}, is ${Math.round(age)} days old`);
        // The default is the second-newest minor released, as the AKS add-on chooses its default.
        const released = ISTIO_MINORS.filter((m) => Date.parse(m.released) <= today.getTime());
        assert.equal(minorOf(DEFAULT_ISTIO_VERSION), released[1].minor);
    });

    it("the program logs the warnings with pulumi.log.warn before registering anything (mock runtime)", async () => {
        const r = await run({
            stage: "deploy",
            "istio.version": "1.27.3",
            "istio.chartRepository": RETIRED_CHART_REPOSITORIES[0],
        });
        assert.equal(r.warnings.length, 2, r.warnings.join("\n"));
        assert.match(r.warnings[0], /which Istio retired/);
        assert.match(r.warnings[1], /Istio 1\.27 left support on 2026-04-07/);
        // Installed as asked all the same.
        const releases = r.resources.filter((x) => x.type === "kubernetes:helm.sh/v3:Release");
        assert.deepEqual(
            releases.map((x) => [x.inputs.version, x.inputs.repositoryOpts.repo]),
            releases.map(() => ["1.27.3", RETIRED_CHART_REPOSITORIES[0]]),
        );
        const defaults = await run({ stage: "deploy" });
        assert.deepEqual(defaults.warnings, []);
    });
});
