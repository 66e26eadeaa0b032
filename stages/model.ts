/**
 * The rollout, as data. No Pulumi in here: this module says which component versions run at
 * each stage and how traffic flows between them. `components/` turns a StagePlan into resources.
 *
 * The stage table is the product brief's (docs/product.md, "The five stages").
 */

export const COMPONENTS = ["voting-app", "voting-analytics", "voting-storage"] as const;
export type Component = (typeof COMPONENTS)[number];

export const VERSIONS = ["1.0", "1.1", "2.0"] as const;
export type Version = (typeof VERSIONS)[number];

export const STAGE_NAMES = ["deploy", "update", "lockdown", "canary", "finalize"] as const;
export type StageName = (typeof STAGE_NAMES)[number];

/** One Deployment: a component at a version. */
export interface WorkloadRef {
    component: Component;
    version: Version;
}

/**
 * Which storage engine each storage version is, the port its Service exposes (`portName`), and
 * the name of the container port behind it (the Service's named target port).
 */
export const STORAGE_ENGINES = {
    "1.0": { engine: "redis", port: 6379, portName: "tcp-redis", containerPortName: "redis" },
    "2.0": { engine: "mysql", port: 3306, portName: "tcp-mysql", containerPortName: "mysql" },
} as const;
export type StorageVersion = keyof typeof STORAGE_ENGINES;
export const STORAGE_VERSIONS = Object.keys(STORAGE_ENGINES) as StorageVersion[];
export type StorageEngine = (typeof STORAGE_ENGINES)[StorageVersion]["engine"];

/** Which storage version each app/analytics version talks to (the app contract). */
export const STORAGE_OF: Record<"voting-app" | "voting-analytics", Partial<Record<Version, StorageVersion>>> = {
    "voting-app": { "1.0": "1.0", "2.0": "2.0" },
    "voting-analytics": { "1.0": "1.0", "1.1": "1.0", "2.0": "2.0" },
};

/**
 * A mesh route: requests from `from` (a running workload) to `to.component` go to `to.version`.
 * Only stages with `meshRouting` have them; the others use plain Kubernetes Service round robin.
 */
export interface MeshRoute {
    from: WorkloadRef;
    to: WorkloadRef;
}

export interface StageDefinition {
    name: StageName;
    number: number;
    summary: string;
    /** Versions of each component that run (one Deployment each). */
    versions: Record<Component, Version[]>;
    /** Users without the feature-flag cookie reach this app version. */
    defaultAppVersion: Version;
    /** Users with `featureflag=on` reach this app version (same as default where there is no canary). */
    flaggedAppVersion: Version;
    /** Whether `canaryWeight` applies: a share of unflagged users goes to flaggedAppVersion. */
    weightedCanary: boolean;
    /** DestinationRules with version subsets and VirtualServices for every component. */
    meshRouting: boolean;
    /** Service-to-service routes (only with meshRouting). */
    routes: MeshRoute[];
    /** Namespace-wide PeerAuthentication in STRICT mode. */
    strictMtls: boolean;
}

const w = (component: Component, version: Version): WorkloadRef => ({ component, version });
const chain = (app: Version, analytics: Version, storage: StorageVersion): MeshRoute[] => [
    { from: w("voting-app", app), to: w("voting-analytics", analytics) },
    { from: w("voting-app", app), to: w("voting-storage", storage) },
    { from: w("voting-analytics", analytics), to: w("voting-storage", storage) },
];

export const STAGES: readonly StageDefinition[] = [
    {
        name: "deploy",
        number: 1,
        summary: "storage 1.0 (Redis), analytics 1.0, app 1.0; Gateway and ingress VirtualService",
        versions: { "voting-app": ["1.0"], "voting-analytics": ["1.0"], "voting-storage": ["1.0"] },
        defaultAppVersion: "1.0",
        flaggedAppVersion: "1.0",
        weightedCanary: false,
        meshRouting: false,
        routes: [],
        strictMtls: false,
    },
    {
        name: "update",
        number: 2,
        summary: "+ analytics 1.1; app 1.0 reaches analytics 1.0 and 1.1 in turn (Service round robin)",
        versions: { "voting-app": ["1.0"], "voting-analytics": ["1.0", "1.1"], "voting-storage": ["1.0"] },
        defaultAppVersion: "1.0",
        flaggedAppVersion: "1.0",
        weightedCanary: false,
        meshRouting: false,
        routes: [],
        strictMtls: false,
    },
    {
        name: "lockdown",
        number: 3,
        summary: "version subsets and VirtualServices for every component, mTLS STRICT; app 1.0 -> analytics 1.1 only",
        versions: { "voting-app": ["1.0"], "voting-analytics": ["1.0", "1.1"], "voting-storage": ["1.0"] },
        defaultAppVersion: "1.0",
        flaggedAppVersion: "1.0",
        weightedCanary: false,
        meshRouting: true,
        routes: chain("1.0", "1.1", "1.0"),
        strictMtls: true,
    },
    {
        name: "canary",
        number: 4,
        summary: "+ the 2.0 chain (MySQL); cookie featureflag=on (and canaryWeight % of the rest) -> app 2.0",
        versions: {
            "voting-app": ["1.0", "2.0"],
            "voting-analytics": ["1.0", "1.1", "2.0"],
            "voting-storage": ["1.0", "2.0"],
        },
        defaultAppVersion: "1.0",
        flaggedAppVersion: "2.0",
        weightedCanary: true,
        meshRouting: true,
        routes: [...chain("1.0", "1.1", "1.0"), ...chain("2.0", "2.0", "2.0")],
        strictMtls: true,
    },
    {
        name: "finalize",
        number: 5,
        summary: "only the 2.0 chain runs; every user reaches app 2.0",
        versions: { "voting-app": ["2.0"], "voting-analytics": ["2.0"], "voting-storage": ["2.0"] },
        defaultAppVersion: "2.0",
        flaggedAppVersion: "2.0",
        weightedCanary: false,
        meshRouting: true,
        routes: chain("2.0", "2.0", "2.0"),
        strictMtls: true,
    },
];

/** The stages that hold the namespace to STRICT mTLS (a PeerAuthentication): plaintext is refused. */
export const STRICT_MTLS_STAGES: StageName[] = STAGES.filter((s) => s.strictMtls).map((s) => s.name);

/** The storage version a client version uses, per the app contract. */
export function storageFor(component: "voting-app" | "voting-analytics", version: Version): StorageVersion {
    const storage = STORAGE_OF[component][version];
    if (!storage) throw new Error(`${component} ${version} has no storage`);
    return storage;
}

/**
 * Carrying the votes from Redis (the 1.x chain's store) to MySQL (2.0's), so that 2.0 shows every
 * vote ever cast: `seed` where both stores run (MySQL is seeded from Redis before any 2.0 client
 * starts; the 1.x chain keeps voting into Redis meanwhile), `final` where only MySQL runs and a
 * neighbour runs Redis (what 1.x took since is carried after users stop reaching 1.x, before Redis
 * stops). Each carry adds only what Redis took since the last one (a watermark kept in MySQL, in
 * the same transaction as the counts), so a carry run twice, or again after a rollback, is exact.
 */
export type VoteCarry = "seed" | "final";

export function voteCarry(stage: StageDefinition): VoteCarry | undefined {
    const runsStore = (s: StageDefinition, version: StorageVersion) => s.versions["voting-storage"].includes(version);
    if (!runsStore(stage, "2.0")) return undefined;
    if (runsStore(stage, "1.0")) return "seed";
    return neighbours(stage.name).some((n) => runsStore(n, "1.0")) ? "final" : undefined;
}

/** Every Deployment some stage runs (each component at each of its versions), in stage order. */
export const ALL_WORKLOADS: WorkloadRef[] = STAGES.flatMap((stage) =>
    COMPONENTS.flatMap((component) => stage.versions[component].map((version) => w(component, version))),
).filter((ref, i, all) => all.findIndex((o) => o.component === ref.component && o.version === ref.version) === i);

/** A stage with the user's settings applied: what `pulumi up` must make true. */
export interface StagePlan {
    stage: StageDefinition;
    workloads: WorkloadRef[];
    /** Subsets each component's DestinationRules define (empty without mesh routing). */
    subsets: Record<Component, Version[]>;
    /** Ingress routing for users without the flag cookie: app version -> weight (sums to 100). */
    defaultAppWeights: Partial<Record<Version, number>>;
    flaggedAppVersion: Version;
    /**
     * A weighted canary (0 < weight < 100) keeps each unflagged user on the version the weight
     * first sent them to: see `stickyAssignment`. None outside it: cookies then route nowhere.
     */
    sticky?: { weight: number };
    /** The order of in-place changes when a `pulumi up` enters this stage: see `changeOrder`. */
    changeOrder: "expand" | "contract";
}

export interface StageOptions {
    /** Percent (0-100) of unflagged users that the canary stage sends to app 2.0. */
    canaryWeight: number;
}

export function stageByName(name: StageName): StageDefinition {
    const found = STAGES.find((s) => s.name === name);
    if (!found) throw new Error(`no stage named ${name}`);
    return found;
}

/** The stages next to this one: where a `pulumi up` into it can come from (forward or rollback). */
export function neighbours(name: StageName): StageDefinition[] {
    const i = STAGE_NAMES.indexOf(name);
    return [STAGES[i - 1], STAGES[i + 1]].filter((s): s is StageDefinition => s !== undefined);
}

/**
 * Make before break, for what stages change in place: the VirtualServices. (Workloads and subsets
 * are creates and deletes, which Pulumi orders by itself; the voting-storage Service exposes every
 * engine's port in every stage, so it never changes.) A stage whose workloads are a superset of
 * every neighbour's *expands* when it is entered: the routes inside the mesh (analytics, storage)
 * first, then the ingress route that sends users into the new chain. A stage whose workloads are a
 * subset of every neighbour's *contracts*: the ingress route first (users leave the chain that is
 * going away), then the routes inside the mesh. A stage that grows from one neighbour and shrinks
 * from another cannot be entered safely in one step, so the model refuses it.
 */
export function changeOrder(name: StageName): "expand" | "contract" {
    const key = (s: StageDefinition) => new Set(COMPONENTS.flatMap((c) => s.versions[c].map((v) => `${c}@${v}`)));
    const mine = key(stageByName(name));
    const others = neighbours(name).map(key);
    if (others.every((o) => [...o].every((x) => mine.has(x)))) return "expand";
    if (others.every((o) => [...mine].every((x) => o.has(x)))) return "contract";
    throw new Error(`stage ${name}: its workloads grow from one neighbour and shrink from another`);
}

export function planStage(name: StageName, options: StageOptions): StagePlan {
    const stage = stageByName(name);
    const workloads = COMPONENTS.flatMap((component) =>
        stage.versions[component].map((version) => w(component, version)),
    );
    const subsets = Object.fromEntries(COMPONENTS.map((c) => [c, [] as Version[]])) as Record<Component, Version[]>;
    if (stage.meshRouting) {
        const add = (ref: WorkloadRef) => {
            if (!subsets[ref.component].includes(ref.version)) subsets[ref.component].push(ref.version);
        };
        add(w("voting-app", stage.defaultAppVersion));
        add(w("voting-app", stage.flaggedAppVersion));
        stage.routes.forEach((r) => add(r.to));
        for (const c of COMPONENTS) subsets[c].sort();
    }
    const defaultAppWeights: Partial<Record<Version, number>> = {};
    const canaryShare = stage.weightedCanary ? options.canaryWeight : 0;
    if (canaryShare < 100) defaultAppWeights[stage.defaultAppVersion] = 100 - canaryShare;
    if (canaryShare > 0) defaultAppWeights[stage.flaggedAppVersion] = canaryShare;
    return {
        stage,
        workloads,
        subsets,
        defaultAppWeights,
        flaggedAppVersion: stage.flaggedAppVersion,
        ...(canaryShare > 0 && canaryShare < 100 ? { sticky: { weight: canaryShare } } : {}),
        changeOrder: changeOrder(name),
    };
}

/** Kubernetes-safe suffix for a version: "1.0" -> "1-0" (Deployment names, subset names). */
export function versionSlug(version: Version): string {
    return version.replace(/\./g, "-");
}

/** The Istio subset name for a version: "1.0" -> "v1-0", as in the walkthrough. */
export function subsetName(version: Version): string {
    return `v${versionSlug(version)}`;
}

/**
 * The analytics versions an app version calls at a stage: its mesh routes', or, where the Service
 * round-robins (no mesh routing), every analytics version the stage runs, in turn.
 */
export function analyticsCalledBy(stage: StageDefinition, app: Version): Version[] {
    if (!stage.meshRouting) return stage.versions["voting-analytics"];
    return stage.routes
        .filter(
            (r) => r.from.component === "voting-app" && r.from.version === app && r.to.component === "voting-analytics",
        )
        .map((r) => r.to.version);
}

/**
 * One path users take through the app at a stage: the share of the user class it carries, the app
 * version, the analytics version(s) that app version calls (several, in turn, where the Service's
 * round robin picks), and the storage both use.
 */
export interface UserChain {
    /** Percent of the user class (without or with the flag cookie). */
    share: number;
    app: Version;
    analytics: Version[];
    storage: StorageVersion;
}

/** The chains users without (`flagged` false) or with the feature-flag cookie take at a stage. */
export function userChains(plan: StagePlan, flagged: boolean): UserChain[] {
    const weights: [Version, number][] = flagged
        ? [[plan.flaggedAppVersion, 100]]
        : (Object.entries(plan.defaultAppWeights) as [Version, number][]).sort(([a], [b]) => a.localeCompare(b));
    return weights.map(([app, share]) => ({
        share,
        app,
        analytics: analyticsCalledBy(plan.stage, app),
        storage: storageFor("voting-app", app),
    }));
}

/**
 * What serves each component, per user class (without and with the feature-flag cookie): the
 * stack's `versions` output.
 */
export function servingVersions(plan: StagePlan): Record<string, Record<string, string>> {
    const describe = (chains: UserChain[]) => {
        const joined = <T extends string>(values: T[]) => [...new Set(values)].sort().join(", ");
        return {
            "voting-app": joined(chains.map((c) => c.app)),
            "voting-analytics": joined(chains.flatMap((c) => c.analytics)),
            "voting-storage": [...new Set(chains.map((c) => c.storage))]
                .sort()
                .map((v) => `${v} (${STORAGE_ENGINES[v].engine})`)
                .join(", "),
        };
    };
    return { withoutFeatureFlag: describe(userChains(plan, false)), withFeatureFlag: describe(userChains(plan, true)) };
}

/**
 * Sticky weighted canary. The route that picks an unflagged user's app version by weight also sets
 * a session cookie naming the version and the weight it was picked at (`voting-canary=2.0-w30`).
 * At weight W, a user holding such a cookie stays on its version while the weight has not moved
 * against it: on the canary version if it was picked at a weight <= W, on the default version if
 * at a weight >= W. Any other user (no cookie, or one the weight has moved against) is picked
 * again by weight and gets a new cookie: raising the weight moves more of the users not yet on the
 * canary, lowering it moves users back. Outside a weighted canary there are no sticky routes, so no
 * cookie routes anywhere; the flag cookie always wins.
 */
export function stickyAssignment(plan: StagePlan): { version: Version; weights: { from: number; to: number } }[] {
    if (!plan.sticky) return [];
    const w = plan.sticky.weight;
    return [
        { version: plan.flaggedAppVersion, weights: { from: 1, to: w } },
        { version: plan.stage.defaultAppVersion, weights: { from: w, to: 99 } },
    ];
}
