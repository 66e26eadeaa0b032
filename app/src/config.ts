// Reads and validates the environment. Every setting has a default that matches the
// Kubernetes deployment (service names voting-storage / voting-analytics).

export type Component = "app" | "analytics";
export type StoreKind = "redis" | "mysql";

export const APP_VERSIONS = ["1.0", "2.0"] as const;
export const ANALYTICS_VERSIONS = ["1.0", "1.1", "2.0"] as const;

export interface RedisSettings {
    host: string;
    port: number;
}

export interface MysqlSettings {
    host: string;
    port: number;
    user: string;
    password: string;
    database: string;
}

export interface Config {
    component: Component;
    version: string;
    store: StoreKind;
    port: number;
    title: string;
    vote1: string;
    vote2: string;
    showDetails: boolean;
    featureFlag: boolean;
    redis: RedisSettings;
    mysql: MysqlSettings;
    analyticsHost: string;
    analyticsPort: number;
    /** Milliseconds to wait for in-flight requests on SIGTERM before closing them. */
    shutdownTimeoutMs: number;
}

export class ConfigError extends Error {}

type Env = Record<string, string | undefined>;

function str(env: Env, name: string, dflt: string): string {
    const v = env[name];
    return v === undefined || v.trim() === "" ? dflt : v.trim();
}

function int(env: Env, name: string, dflt: number, min = 1, max = 65535): number {
    const raw = env[name];
    if (raw === undefined || raw.trim() === "") return dflt;
    if (!/^\d+$/.test(raw.trim())) throw new ConfigError(`${name} must be an integer, got "${raw}"`);
    const n = Number(raw.trim());
    if (n < min || n > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${n}`);
    return n;
}

function bool(env: Env, name: string, dflt: boolean): boolean {
    const raw = env[name];
    if (raw === undefined || raw.trim() === "") return dflt;
    const v = raw.trim().toLowerCase();
    if (["1", "true", "yes", "on"].includes(v)) return true;
    if (["0", "false", "no", "off"].includes(v)) return false;
    throw new ConfigError(`${name} must be true/false (or 1/0), got "${raw}"`);
}

/** Candidate names are stored as MySQL VARCHAR(32) keys and shown in HTML (escaped). */
function voteValue(env: Env, name: string, dflt: string): string {
    const v = str(env, name, dflt);
    if (v.length > 32) throw new ConfigError(`${name} must be at most 32 characters, got ${v.length}`);
    if (v.toLowerCase() === "reset")
        throw new ConfigError(`${name} must not be "reset" (reserved for the Reset button)`);
    return v;
}

/** The two candidates (VOTE1VALUE, VOTE2VALUE), validated as the components validate them. */
function candidates(env: Env): [string, string] {
    const vote1 = voteValue(env, "VOTE1VALUE", "Cats");
    const vote2 = voteValue(env, "VOTE2VALUE", "Dogs");
    if (vote1.toLowerCase() === vote2.toLowerCase()) {
        throw new ConfigError(`VOTE1VALUE and VOTE2VALUE must differ (ignoring case), got "${vote1}" and "${vote2}"`);
    }
    return [vote1, vote2];
}

function redisSettings(env: Env): RedisSettings {
    return {
        host: str(env, "REDIS_HOST", "voting-storage"),
        port: int(env, "REDIS_PORT", 6379),
    };
}

function mysqlSettings(env: Env): MysqlSettings {
    return {
        host: str(env, "MYSQL_HOST", "voting-storage"),
        port: int(env, "MYSQL_PORT", 3306),
        user: str(env, "MYSQL_USER", "root"),
        password: env["MYSQL_PASSWORD"] ?? "",
        database: str(env, "MYSQL_DATABASE", "votes"),
    };
}

export function loadConfig(env: Env = process.env): Config {
    const component = str(env, "COMPONENT", "");
    const version = str(env, "VERSION", "");
    if (component !== "app" && component !== "analytics") {
        throw new ConfigError(
            `COMPONENT must be "app" or "analytics", got ${component === "" ? "(unset)" : `"${component}"`}`,
        );
    }
    const allowed: readonly string[] = component === "app" ? APP_VERSIONS : ANALYTICS_VERSIONS;
    if (!allowed.includes(version)) {
        throw new ConfigError(
            `VERSION ${version === "" ? "(unset)" : `"${version}"`} is not valid for COMPONENT=${component}; ` +
                `use one of ${allowed.join(", ")}`,
        );
    }
    const [vote1, vote2] = candidates(env);

    return {
        component,
        version,
        store: version.startsWith("2.") ? "mysql" : "redis",
        port: int(env, "PORT", 8080),
        title: str(env, "TITLE", "Azure Voting App"),
        vote1,
        vote2,
        showDetails: bool(env, "SHOWDETAILS", true),
        featureFlag: bool(env, "FEATUREFLAG", true),
        redis: redisSettings(env),
        mysql: mysqlSettings(env),
        analyticsHost: str(env, "ANALYTICS_HOST", "voting-analytics"),
        analyticsPort: int(env, "ANALYTICS_PORT", 8080),
        shutdownTimeoutMs: int(env, "SHUTDOWN_TIMEOUT_MS", 10000, 0, 600000),
    };
}

/**
 * Which carry this is (CARRY_MODE, set by the program from the stage): `seed` where both stores run
 * (canary), `final` where Redis stops after it (finalize). Recorded with the watermark
 * (`carried_from_redis.final_carry`): Redis stops only after a final carry committed, so a later
 * carry that finds no Redis knows nothing is left in it (src/carry.ts).
 */
export const CARRY_MODES = ["seed", "final"] as const;
export type CarryMode = (typeof CARRY_MODES)[number];

/** Where a test-only pause of the carry happens (see CarryConfig.testPause). */
export const CARRY_PAUSE_POINTS = ["after-read", "before-commit"] as const;
export type CarryPausePoint = (typeof CARRY_PAUSE_POINTS)[number];

/** Settings of `node dist/carry.js`, the Redis → MySQL vote carry (src/carry.ts). */
export interface CarryConfig {
    redis: RedisSettings;
    mysql: MysqlSettings;
    /** CARRY_MODE: `seed` (canary, both stores run; the default) or `final` (finalize, Redis stops after it). */
    mode: CarryMode;
    /** VOTE1VALUE, VOTE2VALUE: the Redis hash fields and MySQL rows carried. */
    candidates: readonly [string, string];
    /** CARRY_TIMEOUT_MS: how long failed attempts (stores unreachable, still starting) are retried. */
    timeoutMs: number;
    /** ISTIO_QUIT_ON_EXIT: POST ISTIO_QUIT_URL before exiting, so a classic Istio sidecar exits too. */
    istioQuit: boolean;
    istioQuitUrl: string;
    /**
     * TEST ONLY (CARRY_TEST_PAUSE_AT + CARRY_TEST_PAUSE_MS): sleep at that point of the transaction so
     * a test can kill the process there or race a second carry against it. Never set in a deployment.
     */
    testPause: { at: CarryPausePoint; ms: number } | null;
}

export function loadCarryConfig(env: Env = process.env): CarryConfig {
    const pauseAt = str(env, "CARRY_TEST_PAUSE_AT", "");
    if (pauseAt !== "" && !(CARRY_PAUSE_POINTS as readonly string[]).includes(pauseAt)) {
        throw new ConfigError(`CARRY_TEST_PAUSE_AT must be one of ${CARRY_PAUSE_POINTS.join(", ")}, got "${pauseAt}"`);
    }
    const mode = str(env, "CARRY_MODE", "seed");
    if (!(CARRY_MODES as readonly string[]).includes(mode)) {
        throw new ConfigError(`CARRY_MODE must be one of ${CARRY_MODES.join(", ")}, got "${mode}"`);
    }
    const quitUrl = str(env, "ISTIO_QUIT_URL", "http://127.0.0.1:15020/quitquitquit");
    if (!/^http:\/\/[^/]+\/\S*$/.test(quitUrl)) {
        throw new ConfigError(`ISTIO_QUIT_URL must be an http:// URL, got "${quitUrl}"`);
    }
    return {
        redis: redisSettings(env),
        mysql: mysqlSettings(env),
        mode: mode as CarryMode,
        candidates: candidates(env),
        timeoutMs: int(env, "CARRY_TIMEOUT_MS", 60000, 0, 3600000),
        istioQuit: bool(env, "ISTIO_QUIT_ON_EXIT", true),
        istioQuitUrl: quitUrl,
        testPause:
            pauseAt === ""
                ? null
                : { at: pauseAt as CarryPausePoint, ms: int(env, "CARRY_TEST_PAUSE_MS", 30000, 0, 600000) },
    };
}
