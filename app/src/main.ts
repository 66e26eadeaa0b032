// Entry point: COMPONENT (app|analytics) and VERSION select what runs.

import { analyticsErrorPage, createAnalyticsHandler } from "./analytics";
import { appErrorPage, createAppHandler } from "./app";
import { ConfigError, loadConfig, type Config } from "./config";
import { createServer } from "./http";
import { log } from "./log";
import { createStore } from "./store";

function main(): void {
    let config: Config;
    try {
        config = loadConfig();
    } catch (err) {
        if (err instanceof ConfigError) {
            process.stderr.write(`voting: configuration error: ${err.message}\n`);
            process.exit(2);
        }
        throw err;
    }

    const store = createStore(config);
    const running =
        config.component === "app"
            ? createServer(createAppHandler(config, store), appErrorPage(config), config.shutdownTimeoutMs)
            : createServer(createAnalyticsHandler(config, store), analyticsErrorPage, config.shutdownTimeoutMs);

    running.server.on("error", (err: NodeJS.ErrnoException) => {
        log("error", `server error: ${err.message}`);
        process.exit(1);
    });
    running.server.listen(config.port, () => {
        log("info", `voting-${config.component} ${config.version} listening on :${config.port}`, {
            store: config.store,
            storeAddress:
                config.store === "redis"
                    ? `${config.redis.host}:${config.redis.port}`
                    : `${config.mysql.host}:${config.mysql.port}/${config.mysql.database}`,
            ...(config.component === "app" ? { analytics: `${config.analyticsHost}:${config.analyticsPort}` } : {}),
        });
    });

    const stop = (signal: string): void => {
        void running.shutdown(signal).then(async (clean) => {
            await store.close();
            log("info", clean ? "stopped cleanly" : "stopped after closing lingering connections");
            process.exit(0);
        });
    };
    process.on("SIGTERM", () => stop("SIGTERM"));
    process.on("SIGINT", () => stop("SIGINT"));
}

main();
