/**
 * Who may call whom (stages/authorization.ts): one AuthorizationPolicy per call the stage makes,
 * which whatever starts the call waits for (the caller's and the callee's Deployments, the
 * ingress route, the carry Job: `of` and `into`), and the namespace's deny by default, registered
 * last (`denyByDefault`, after every allow and every Deployment). Deletes run last, each after
 * what depended on it.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import {
    ALLOW_NOTHING,
    allowedCalls,
    allowPolicyName,
    allowPolicySpec,
    Caller,
    callerName,
    GatewayIdentity,
} from "../../stages/authorization";
import { StagePlan } from "../../stages/model";
import { APP_NAMESPACE, workloadName } from "../../stages/names";
import { AppScope } from "./scope";

export interface CallPolicies {
    /** The allows of a caller's calls. */
    of(caller: Caller): pulumi.CustomResource[];
    /** The allows of the calls to a Deployment (by name). */
    into(deploymentName: string): pulumi.CustomResource[];
    /** Registers the deny by default, after every allow and `after` (none when the setting is off). */
    denyByDefault(after: pulumi.Resource[]): void;
}

export function callPolicies(
    { parent, meta }: AppScope,
    plan: StagePlan,
    args: {
        /** traffic.authorization: off registers no policy. */
        enabled: boolean;
        gatewayIdentity: pulumi.Input<GatewayIdentity>;
        meshReady: pulumi.Input<pulumi.Resource>[];
    },
): CallPolicies {
    const byCaller = new Map<string, pulumi.CustomResource[]>();
    const byCallee = new Map<string, pulumi.CustomResource[]>();
    const add = (map: Map<string, pulumi.CustomResource[]>, key: string, policy: pulumi.CustomResource) =>
        map.set(key, [...(map.get(key) ?? []), policy]);
    const policy = (policyName: string, spec: pulumi.Input<object>, dependsOn: pulumi.Resource[]) =>
        new k8s.apiextensions.CustomResource(
            `${policyName}-authorizationpolicy`,
            { apiVersion: "security.istio.io/v1", kind: "AuthorizationPolicy", metadata: meta(policyName), spec },
            { parent, dependsOn: [...args.meshReady, ...dependsOn] },
        );
    const allows = !args.enabled
        ? []
        : allowedCalls(plan).map((call) => {
              const spec = pulumi
                  .output(args.gatewayIdentity)
                  .apply((gateway) => allowPolicySpec(call, APP_NAMESPACE, gateway));
              const allow = policy(allowPolicyName(call), spec, []);
              add(byCaller, callerName(call.from), allow);
              add(byCallee, workloadName(call.to), allow);
              return allow;
          });
    return {
        of: (caller) => byCaller.get(callerName(caller)) ?? [],
        into: (deploymentName) => byCallee.get(deploymentName) ?? [],
        denyByDefault: (after) => {
            if (args.enabled) policy(ALLOW_NOTHING, {}, [...allows, ...after]);
        },
    };
}
