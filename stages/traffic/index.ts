/** The router of a traffic API (traffic.api): the one place that chooses between them. */
import { gatewayApiRouter } from "./gatewayApi";
import { istioApiRouter } from "./istioApi";
import type { TrafficApi, TrafficRouter } from "./router";

export * from "./router";

const ROUTERS: Record<TrafficApi, TrafficRouter> = {
    istio: istioApiRouter,
    "gateway-api": gatewayApiRouter,
};

export function trafficRouter(api: TrafficApi): TrafficRouter {
    return ROUTERS[api];
}
