/**
 * The product brief's stage table as expectations, shared by the unit tests (mocks) and the
 * end-to-end walk (real engine, real API server).
 */
import type { TrafficApi } from "../../stages/traffic/router";

/** Every stage: the votes' two volumes among them, so that no stage change deletes or re-creates one. */
const common = [
    "Namespace/voting",
    "PersistentVolumeClaim/voting-storage-redis-data",
    "PersistentVolumeClaim/voting-storage-mysql-data",
    "Service/voting-analytics",
    "Service/voting-app",
    "Service/voting-storage",
    "Gateway/voting-app-gateway",
    "VirtualService/voting-app",
    // Deny by default (traffic.authorization, on by default): every call needs an allow below.
    "AuthorizationPolicy/allow-nothing",
];
const mesh1 = [
    "DestinationRule/voting-app-v1-0",
    "DestinationRule/voting-analytics-v1-1",
    "DestinationRule/voting-storage-v1-0",
];
const mesh2 = [
    "DestinationRule/voting-app-v2-0",
    "DestinationRule/voting-analytics-v2-0",
    "DestinationRule/voting-storage-v2-0",
];
const meshCommon = ["VirtualService/voting-analytics", "VirtualService/voting-storage", "PeerAuthentication/default"];
/** Each Deployment's own ServiceAccount (its mTLS identity). */
const accounts = (...deployments: string[]) => deployments.map((d) => `ServiceAccount/${d}`);
/** The AuthorizationPolicy that allows one call: "caller -> callee". */
const allow = (...calls: string[]) => calls.map((c) => `AuthorizationPolicy/${c.replace(" -> ", "-to-")}`);
const v1 = [
    "Deployment/voting-storage-1-0",
    "Deployment/voting-analytics-1-0",
    "Deployment/voting-app-1-0",
    "PodDisruptionBudget/voting-app-1-0",
    ...accounts("voting-storage-1-0", "voting-analytics-1-0", "voting-app-1-0"),
    ...allow(
        "ingress-gateway -> voting-app-1-0",
        "voting-app-1-0 -> voting-storage-1-0",
        "voting-analytics-1-0 -> voting-storage-1-0",
    ),
];
const analytics11 = [
    "Deployment/voting-analytics-1-1",
    ...accounts("voting-analytics-1-1"),
    ...allow("voting-app-1-0 -> voting-analytics-1-1", "voting-analytics-1-1 -> voting-storage-1-0"),
];
const mysql = ["Secret/voting-storage-secret", "ConfigMap/voting-storage-mysql-init"];
const v2 = [
    ...mysql,
    "Deployment/voting-storage-2-0",
    "Deployment/voting-analytics-2-0",
    "Deployment/voting-app-2-0",
    "PodDisruptionBudget/voting-app-2-0",
    ...accounts("voting-storage-2-0", "voting-analytics-2-0", "voting-app-2-0"),
    ...allow(
        "ingress-gateway -> voting-app-2-0",
        "voting-app-2-0 -> voting-analytics-2-0",
        "voting-app-2-0 -> voting-storage-2-0",
        "voting-analytics-2-0 -> voting-storage-2-0",
    ),
];
/** The vote carry's Job of a stage, its ServiceAccount, and its calls to the stores the stage runs. */
const carry = (stage: string, ...stores: string[]) => [
    `Job/carry-votes-${stage}`,
    ...accounts("carry-votes"),
    ...allow(...stores.map((store) => `carry-votes -> ${store}`)),
];

/** The product brief's stage table, as the objects each stage must have in namespace voting. */
export const EXPECTED: Record<string, string[]> = {
    // Before mesh routing the app's Service round-robins over every analytics version.
    deploy: [...common, ...v1, ...allow("voting-app-1-0 -> voting-analytics-1-0")],
    update: [...common, ...v1, ...analytics11, ...allow("voting-app-1-0 -> voting-analytics-1-0")],
    lockdown: [...common, ...v1, ...analytics11, ...mesh1, ...meshCommon],
    canary: [
        ...common,
        ...v1,
        ...analytics11,
        ...mesh1,
        ...meshCommon,
        ...v2,
        ...mesh2,
        ...carry("canary", "voting-storage-1-0", "voting-storage-2-0"),
    ],
    finalize: [...common, ...v2, ...mesh2, ...meshCommon, ...carry("finalize", "voting-storage-2-0")],
};

/** Forward transitions, from the brief's stage table; each rollback is the exact inverse. */
export const FORWARD: Record<string, { create: string[]; update: string[]; delete: string[] }> = {
    "deploy->update": {
        create: [
            "AuthorizationPolicy/voting-analytics-1-1-to-voting-storage-1-0",
            "AuthorizationPolicy/voting-app-1-0-to-voting-analytics-1-1",
            "Deployment/voting-analytics-1-1",
            "ServiceAccount/voting-analytics-1-1",
        ],
        update: [],
        delete: [],
    },
    "update->lockdown": {
        create: [
            "DestinationRule/voting-analytics-v1-1",
            "DestinationRule/voting-app-v1-0",
            "DestinationRule/voting-storage-v1-0",
            "PeerAuthentication/default",
            "VirtualService/voting-analytics",
            "VirtualService/voting-storage",
        ],
        update: ["VirtualService/voting-app"],
        // app 1.0's mesh route goes to analytics 1.1 only.
        delete: ["AuthorizationPolicy/voting-app-1-0-to-voting-analytics-1-0"],
    },
    "lockdown->canary": {
        create: [
            "AuthorizationPolicy/carry-votes-to-voting-storage-1-0",
            "AuthorizationPolicy/carry-votes-to-voting-storage-2-0",
            "AuthorizationPolicy/ingress-gateway-to-voting-app-2-0",
            "AuthorizationPolicy/voting-analytics-2-0-to-voting-storage-2-0",
            "AuthorizationPolicy/voting-app-2-0-to-voting-analytics-2-0",
            "AuthorizationPolicy/voting-app-2-0-to-voting-storage-2-0",
            "ConfigMap/voting-storage-mysql-init",
            "Deployment/voting-analytics-2-0",
            "Deployment/voting-app-2-0",
            "Deployment/voting-storage-2-0",
            "DestinationRule/voting-analytics-v2-0",
            "DestinationRule/voting-app-v2-0",
            "DestinationRule/voting-storage-v2-0",
            "Job/carry-votes-canary",
            "PodDisruptionBudget/voting-app-2-0",
            "Secret/voting-storage-secret",
            "ServiceAccount/carry-votes",
            "ServiceAccount/voting-analytics-2-0",
            "ServiceAccount/voting-app-2-0",
            "ServiceAccount/voting-storage-2-0",
        ],
        update: ["VirtualService/voting-analytics", "VirtualService/voting-app", "VirtualService/voting-storage"],
        delete: [],
    },
    "canary->finalize": {
        create: ["Job/carry-votes-finalize"],
        update: ["VirtualService/voting-analytics", "VirtualService/voting-app", "VirtualService/voting-storage"],
        delete: [
            "AuthorizationPolicy/carry-votes-to-voting-storage-1-0",
            "AuthorizationPolicy/ingress-gateway-to-voting-app-1-0",
            "AuthorizationPolicy/voting-analytics-1-0-to-voting-storage-1-0",
            "AuthorizationPolicy/voting-analytics-1-1-to-voting-storage-1-0",
            "AuthorizationPolicy/voting-app-1-0-to-voting-analytics-1-1",
            "AuthorizationPolicy/voting-app-1-0-to-voting-storage-1-0",
            "Deployment/voting-analytics-1-0",
            "Deployment/voting-analytics-1-1",
            "Deployment/voting-app-1-0",
            "Deployment/voting-storage-1-0",
            "DestinationRule/voting-analytics-v1-1",
            "DestinationRule/voting-app-v1-0",
            "DestinationRule/voting-storage-v1-0",
            "Job/carry-votes-canary",
            "PodDisruptionBudget/voting-app-1-0",
            "ServiceAccount/voting-analytics-1-0",
            "ServiceAccount/voting-analytics-1-1",
            "ServiceAccount/voting-app-1-0",
            "ServiceAccount/voting-storage-1-0",
        ],
    },
};

export type Chain = { app: string; analytics: string; appStorage: string; analyticsStorage: string };
export const chain = (app: string, analytics: string, storage: string): Chain => ({
    app,
    analytics,
    appStorage: storage,
    analyticsStorage: storage,
});
export const V1 = (analytics: string) => chain("1.0", analytics, "1.0");
export const V2 = chain("2.0", "2.0", "2.0");

/** Where users' requests go at each stage (canaryWeight 0): chains with their share in percent. */
export const ROUTES: Record<string, { withoutFlag: [Chain, number][]; withFlag: [Chain, number][] }> = {
    deploy: { withoutFlag: [[V1("1.0"), 100]], withFlag: [[V1("1.0"), 100]] },
    update: {
        withoutFlag: [
            [V1("1.0"), 50],
            [V1("1.1"), 50],
        ],
        withFlag: [
            [V1("1.0"), 50],
            [V1("1.1"), 50],
        ],
    },
    lockdown: { withoutFlag: [[V1("1.1"), 100]], withFlag: [[V1("1.1"), 100]] },
    canary: { withoutFlag: [[V1("1.1"), 100]], withFlag: [[V2, 100]] },
    finalize: { withoutFlag: [[V2, 100]], withFlag: [[V2, 100]] },
};

/** Cookie headers without the flag, and with it (alone or among other cookies). */
export const NO_FLAG = [
    undefined,
    "",
    "session=abc",
    "featureflag=off",
    "nofeatureflag=on",
    "featureflag=onx",
    "x=1; featureflag=of",
];
export const FLAG = [
    "featureflag=on",
    "session=abc; featureflag=on",
    "featureflag=on; theme=dark",
    "a=1; featureflag=on; b=2",
    "a=1;featureflag=on",
];

/** The sticky weighted canary's cookie (issue 10): `voting-canary=<version>-w<weight it was picked at>`. */
export const CANARY_COOKIE_NAME = "voting-canary";

/** Cookie headers that carry the canary cookie: held at weights below, at and above 30, among others, with the flag. */
export const STICKY_COOKIES = [
    "voting-canary=2.0-w30",
    "voting-canary=1.0-w30",
    "voting-canary=2.0-w10",
    "voting-canary=2.0-w50",
    "voting-canary=1.0-w90",
    "voting-canary=1.0-w20",
    "a=1; voting-canary=2.0-w1; b=2",
    "voting-canary=2.0-w0",
    "voting-canary=1.0-w30; featureflag=on",
];

/**
 * Where a user with this Cookie header goes, written out from the rule: in a weighted canary
 * (0 < w < 100) a cookie `2.0-wP` keeps its user on 2.0 while P <= w, `1.0-wP` on 1.0 while P >= w
 * (P from 1 to 99, as issued); any other unflagged user is picked by weight and gets the cookie of
 * the version picked, at w. The flag cookie always wins; elsewhere cookies route nowhere and none is
 * set. Returns the chains with their shares, and the cookie set per app version ("" none).
 */
export function expectedSticky(
    stage: string,
    weight: number,
    cookie?: string,
): { chains: [Chain, number][]; setCookie: Record<string, string> } {
    const routes = ROUTES[stage];
    const none = (chains: [Chain, number][]) => ({
        chains,
        setCookie: Object.fromEntries(chains.map(([c]) => [c.app, ""])),
    });
    if (cookie && /(^|;\s*)featureflag=on(;|$)/.test(cookie)) return none(routes.withFlag);
    if (stage !== "canary" || weight === 0) return none(routes.withoutFlag);
    if (weight === 100) return none([[V2, 100]]);
    const held = new RegExp(`(?:^|;\\s*)${CANARY_COOKIE_NAME}=(1\\.0|2\\.0)-w([1-9][0-9]?)(?:;|$)`).exec(cookie ?? "");
    if (held) {
        const [version, at] = [held[1], Number(held[2])];
        if (version === "2.0" && at <= weight) return none([[V2, 100]]);
        if (version === "1.0" && at >= weight) return none([[V1("1.1"), 100]]);
    }
    return {
        chains: [
            [V1("1.1"), 100 - weight],
            [V2, weight],
        ],
        setCookie: {
            "1.0": `${CANARY_COOKIE_NAME}=1.0-w${weight}`,
            "2.0": `${CANARY_COOKIE_NAME}=2.0-w${weight}`,
        },
    };
}

/**
 * The brief's objects (EXPECTED, FORWARD: written in Istio's API) in one traffic API. Gateway API
 * says the same with other objects: its own Gateway (labelled with its group, mock/changes.ts),
 * an HTTPRoute where Istio has the app's or analytics' VirtualService, a Service per version where
 * Istio has a DestinationRule subset of the app or analytics; storage has neither (the
 * voting-storage Service's named ports keep every client on its own engine).
 */
export function inTrafficApi(api: TrafficApi, labels: string[]): string[] {
    if (api === "istio") return [...labels];
    return labels.flatMap((label) => {
        if (label === "Gateway/voting-app-gateway") return ["Gateway.gateway.networking.k8s.io/voting-app-gateway"];
        if (/^(VirtualService|DestinationRule)\/voting-storage\b/.test(label)) return [];
        const route = /^VirtualService\/(voting-app|voting-analytics)$/.exec(label);
        if (route) return [`HTTPRoute/${route[1]}`];
        const subset = /^DestinationRule\/((voting-app|voting-analytics)-v\d+-\d+)$/.exec(label);
        if (subset) return [`Service/${subset[1]}`];
        return [label];
    });
}

/** FORWARD in one traffic API. */
export function forwardIn(api: TrafficApi, key: string): { create: string[]; update: string[]; delete: string[] } {
    const f = FORWARD[key];
    const sorted = (labels: string[]) => inTrafficApi(api, labels).sort();
    return { create: sorted(f.create), update: sorted(f.update), delete: sorted(f.delete) };
}
