/**
 * Where Istio publishes its charts and how long each Istio minor is supported: data the program
 * checks a stack's `istio.*` settings against at every preview and update. No Pulumi in here:
 * `index.ts` logs what `istioReleaseWarnings` returns with `pulumi.log.warn`.
 *
 * Istio's policy (istio.io, "Supported Releases"): a minor is supported until six weeks after the
 * release of the minor two after it (1.30 until six weeks after 1.32.0). The table follows
 * istio.io's support-status table (data/compatibility/supportStatus.yml in istio/istio.io) where it
 * gives dates; release days of 1.31 and 1.32 are those of their `istio.io/api` tags on the Go module
 * proxy, and end-of-support dates not yet fixed by a release two minors on are left undefined.
 * Update it when Istio releases a minor: `test/istioReleases.test.ts` fails once the table is stale.
 */

/** Istio's live Helm chart repository (HTTP). Charts from 1.31 on are published only here and as OCI. */
export const ISTIO_CHART_REPOSITORY = "https://blob.istio.io/istio-release/charts";

/**
 * Chart repositories Istio has retired: the Google Cloud bucket is deleted in December 2026 (Istio's
 * blog post "retirement-of-gcp", 2026-08-21); its index froze on 2026-08-27 at 1.30.4.
 */
export const RETIRED_CHART_REPOSITORIES: readonly string[] = ["https://istio-release.storage.googleapis.com/charts"];

/** What the program installs by default: the second-newest minor at its newest patch (the AKS add-on's own policy). */
export const DEFAULT_ISTIO_VERSION = "1.31.4";

export interface IstioMinor {
    /** "1.31" */
    minor: string;
    /** Release day of x.y.0, ISO date. */
    released: string;
    /** Last day of support, ISO date; undefined while the minor two on is not released. */
    endOfSupport?: string;
    /** Kubernetes minors Istio supports this minor on, oldest and newest. */
    kubernetes: readonly [string, string];
}

/** Newest first. */
export const ISTIO_MINORS: readonly IstioMinor[] = [
    { minor: "1.32", released: "2026-10-21", kubernetes: ["1.34", "1.38"] },
    { minor: "1.31", released: "2026-08-20", kubernetes: ["1.33", "1.37"] },
    { minor: "1.30", released: "2026-05-18", endOfSupport: "2026-12-02", kubernetes: ["1.32", "1.36"] },
    { minor: "1.29", released: "2026-02-16", endOfSupport: "2026-10-01", kubernetes: ["1.31", "1.35"] },
    { minor: "1.28", released: "2025-11-05", endOfSupport: "2026-07-01", kubernetes: ["1.30", "1.34"] },
    { minor: "1.27", released: "2025-08-11", endOfSupport: "2026-04-07", kubernetes: ["1.29", "1.33"] },
];

/** How many days before its end of support a minor is warned about. */
export const SUPPORT_WARNING_DAYS = 30;

const DAY_MS = 24 * 60 * 60 * 1000;

function isoDay(date: Date): string {
    return date.toISOString().slice(0, 10);
}

/** The minor of a version ("1.31.4" -> "1.31"), or undefined when it is not x.y.z. */
export function minorOf(version: string): string | undefined {
    return /^(\d+\.\d+)\.\d+$/.exec(version)?.[1];
}

/**
 * The minor to move to from `minor` on `today`: the oldest newer minor already released whose
 * support does not end within the warning window (the smallest safe step); else the newest released.
 */
export function minorToMoveTo(minor: string, today: Date): IstioMinor | undefined {
    const released = ISTIO_MINORS.filter((m) => m.released <= isoDay(today));
    const newer = released.filter((m) => compareMinors(m.minor, minor) > 0);
    const safe = newer
        .filter((m) => !m.endOfSupport || Date.parse(m.endOfSupport) - today.getTime() > SUPPORT_WARNING_DAYS * DAY_MS)
        .sort((a, b) => compareMinors(a.minor, b.minor));
    return safe[0] ?? released[0];
}

function compareMinors(a: string, b: string): number {
    const [a1, a2] = a.split(".").map(Number);
    const [b1, b2] = b.split(".").map(Number);
    return a1 - b1 || a2 - b2;
}

/**
 * Warnings for a stack's Istio settings on `today`: the chart repository Istio retired, and a
 * version past its end of support, within SUPPORT_WARNING_DAYS of it, or not in the table. Never
 * an error: an unknown or unsupported version is still installed as asked.
 */
export function istioReleaseWarnings(
    settings: { install: boolean; version: string; chartRepository: string; kubernetesVersion?: string },
    today: Date,
): string[] {
    if (!settings.install) return [];
    const warnings: string[] = [];
    const repository = settings.chartRepository.replace(/\/+$/, "");
    if (RETIRED_CHART_REPOSITORIES.includes(repository)) {
        warnings.push(
            `istio.chartRepository is ${repository}, which Istio retired: it is deleted in December 2026 and never held ` +
                `Istio 1.31 or later. Move to Istio's live repository: ` +
                `pulumi config set --path istio.chartRepository ${ISTIO_CHART_REPOSITORY}`,
        );
    }
    const minor = minorOf(settings.version);
    const known = ISTIO_MINORS.find((m) => m.minor === minor);
    if (!known) {
        warnings.push(
            `istio.version ${settings.version} is not in this program's table of Istio releases ` +
                `(${ISTIO_MINORS.map((m) => m.minor).join(", ")}): it is installed as asked, but its support window ` +
                `and Kubernetes range are not checked; see https://istio.io/latest/docs/releases/supported-releases/`,
        );
        return warnings;
    }
    const kubernetesMinor = /^(\d+\.\d+)/.exec(settings.kubernetesVersion ?? "")?.[1];
    const [oldest, newest] = known.kubernetes;
    if (kubernetesMinor && (compareMinors(kubernetesMinor, oldest) < 0 || compareMinors(kubernetesMinor, newest) > 0)) {
        warnings.push(
            `cluster.kubernetesVersion ${settings.kubernetesVersion} is outside the Kubernetes versions Istio ` +
                `${known.minor} supports (${oldest} to ${newest}).`,
        );
    }
    if (!known.endOfSupport) return warnings;
    const daysLeft = Math.ceil((Date.parse(known.endOfSupport) - Date.parse(isoDay(today))) / DAY_MS);
    if (daysLeft > SUPPORT_WARNING_DAYS) return warnings;
    const next = minorToMoveTo(known.minor, today);
    const example =
        next?.minor === minorOf(DEFAULT_ISTIO_VERSION) ? DEFAULT_ISTIO_VERSION : `${next?.minor}.<newest patch>`;
    const moveTo = next ? `; move to Istio ${next.minor}: pulumi config set --path istio.version ${example}` : "";
    warnings.push(
        daysLeft < 0
            ? `istio.version ${settings.version}: Istio ${known.minor} left support on ${known.endOfSupport}` +
                  ` (${-daysLeft} days ago) and gets no more security fixes${moveTo}.`
            : `istio.version ${settings.version}: Istio ${known.minor} leaves support on ${known.endOfSupport}` +
                  ` (in ${daysLeft} days)${moveTo}.`,
    );
    return warnings;
}
