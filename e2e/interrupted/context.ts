/**
 * What the interrupted ups' tests (e2e/interrupted/*.ts) share. `InterruptedContext`: the suite's
 * one stack and cluster, which its before hook fills and its tests read when they run, and what the
 * suite reports at its end. `ScenarioRun`: one scenario's record, from the interrupted up's test to
 * its controls and its recovery.
 */
import { AppChecks } from "../appChecks";
import { ClusterEnvironment } from "../harness";
import { EphemeralStack } from "../ephemeralStack";
import { EngineStep } from "../engineSteps";
import { KubeClient, KubeObject } from "../kube";
import { Scenario } from "./scenarios";
import { PendingOperation } from "./state";
import { StageName } from "../../stages/model";
import { PROJECT } from "../../stages/names";
import type { TrafficApi } from "../../stages/traffic/router";

export interface InterruptedContext {
    kube: KubeClient;
    env?: ClusterEnvironment;
    checks: AppChecks;
    stack?: EphemeralStack;
    readonly api: TrafficApi;
    readonly timings: string[];
    /** Per interruption: what the killed run left pending, and how many of its creates the API server holds. */
    readonly left: string[];
    createsOfHeldObjects: number;
    /** The checkpoint attributes files a kill left broken (the local backend), and their repair. */
    readonly repairs: string[];
}

/** A context whose cluster and stack the before hook fills in; the stack in Istio's API. */
export function newInterruptedContext(): InterruptedContext {
    return {
        api: "istio",
        timings: [],
        left: [],
        createsOfHeldObjects: 0,
        repairs: [],
    } as Partial<InterruptedContext> as InterruptedContext;
}

/** The stack's settings for an up to `stage`, as `pulumi config set stage` does. */
export const setStage = ({ stack }: InterruptedContext, stage: StageName) =>
    stack!.stack.setConfig(`${PROJECT}:stage`, { value: stage });

/** One scenario: its tests' name, and what its interrupted up's test found for its controls and recovery. */
export interface ScenarioRun {
    scenario: Scenario;
    name: string;
    /** What the cluster and the state were before the up. */
    before?: { objects: KubeObject[]; outside: string[] };
    /** What the interruption left: the objects the API server holds, the state's pending operations. */
    killedState: KubeObject[];
    pending: PendingOperation[];
    /** The interrupted up's events (the killed run's, or the up kube-apiserver's restart hit). */
    firstEvents: EngineStep[];
}

/** The i-th scenario's record, before its tests run. */
export function newScenarioRun(scenario: Scenario, i: number): ScenarioRun {
    const { from, to, interruption } = scenario;
    const name = `${i + 1}. ${from} -> ${to}, ${interruption.startsWith("kube") ? interruption : `the engine killed ${interruption}`}`;
    return { scenario, name, killedState: [], pending: [], firstEvents: [] };
}
