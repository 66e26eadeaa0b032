/**
 * An interrupted `pulumi up` converges with nothing lost (issue 19): the real engine, the real
 * program and a real API server, as in the walk (e2e/walk.e2e.ts), on a stack of this file's own.
 *
 * The stack moves lockdown -> canary -> finalize -> canary -> ... and every `pulumi up` of it is
 * interrupted: the `pulumi` CLI (and what it started) SIGKILLed after the update's first create,
 * half-way through its steps, or at its first delete, as a CI time limit or a cancelled job kills
 * it; or kube-apiserver SIGKILLed half-way and started again. After each interruption:
 *  - the objects the API server holds (a state between the two stages) route every request to a
 *    complete chain of either stage, never one that mixes 1.x and 2.0, with every route complete
 *    and every storage client on its own engine (the unit suite's expectations for every state of
 *    a stage change, test/transitions.test.ts), the votes' volumes are the same objects, and the
 *    vote carry's order holds (test/support/carry.ts, on the killed state);
 *  - controls: `pulumi up` is refused (the killed run's lock); after `pulumi cancel` alone, the next
 *    up plans to create again every object the killed run had begun to create and the API server
 *    stored, which Kubernetes provider 4.29 and later (users' 4.34.2) refuse with AlreadyExists;
 *    and `pulumi refresh --import-pending-creates <urn> <id>` or `--clear-pending-creates` (one
 *    interruption each) leave it so;
 *  - the recovery the README gives ("If `pulumi up` was interrupted": `pulumi cancel`, `npm run
 *    adopt-pending-creates`, `pulumi refresh`, `pulumi up`) leaves no pending operation, plans no
 *    create of an object that exists and nothing replaced, and converges: the stage's objects and
 *    no other, the same volumes, the routes (the walk's checks after an up), and nothing deleted
 *    that the stage change does not delete, by the killed run or the recovery, in the app or
 *    outside it.
 *
 * The scenarios and their tests are in e2e/interrupted/*.ts; this file holds the suite, its hooks,
 * its first up and its last control.
 *
 * Environment: as the walk (KUBECONFIG, E2E_TARGET, E2E_PROGRAM, E2E_CONFIG, E2E_EXPECT_READY);
 * the kube-apiserver restart needs the apiserver target.
 */
import { strict as assert } from "assert";
import { until } from "./clusterSetup";
import { EphemeralStack } from "./ephemeralStack";
import { appChecks } from "./appChecks";
import { kubeconfig, log, prepareCluster, SECRETS, target } from "./harness";
import { KubeClient } from "./kube";
import { resumeControlPlane } from "./interrupted/apiServer";
import { newInterruptedContext, newScenarioRun, setStage } from "./interrupted/context";
import { cancelAloneControlTest } from "./interrupted/controls";
import { apiServerRestartTest, killedUpTest } from "./interrupted/interruption";
import { recoveryTest } from "./interrupted/recovery";
import { SCENARIOS } from "./interrupted/scenarios";
import { APP_NAMESPACE } from "../stages/names";

const PROGRAM = process.env.E2E_PROGRAM === "inline" ? "inline" : "local";

describe(`an interrupted pulumi up converges with nothing lost (${target})`, function () {
    this.timeout(30 * 60 * 1000);
    const suite = newInterruptedContext();

    before(async function () {
        assert.ok(kubeconfig, "KUBECONFIG must name the target cluster's kubeconfig");
        suite.kube = KubeClient.fromKubeconfig(kubeconfig, process.env.E2E_CONTEXT);
        const { kube } = suite;
        // The walk's stack was destroyed just before: its namespaces must be gone, not terminating.
        await until("the namespaces of an earlier stack to be gone", 180, async () => {
            const namespaces = await kube.list("Namespace");
            const app = namespaces.some((n) => n.metadata.name === APP_NAMESPACE);
            return app || namespaces.some((n) => n.metadata.deletionTimestamp) ? undefined : true;
        });
        suite.env = await prepareCluster(kube, suite.timings);
        const { env } = suite;
        suite.checks = appChecks(kube, { settings: env.settings, api: () => suite.api, istiod: env.istiod });
        env.settings["traffic.api"] = suite.api;
        suite.stack = await EphemeralStack.create({ program: PROGRAM });
        await suite.stack.configure(env.settings, SECRETS);
    });

    after(async function () {
        this.timeout(10 * 60 * 1000);
        const { kube, stack, env, timings, left, repairs } = suite;
        const t = Date.now();
        if (target === "apiserver") await resumeControlPlane(kube).catch(() => undefined);
        if (stack) await stack.dispose((line) => log(line));
        timings.push(`clean-up (unprotect, destroy, stack rm) ${Date.now() - t} ms`);
        await env?.stop();
        process.stderr.write(
            `e2e interruptions:\n  ${[...left, ...repairs].join("\n  ")}\ne2e interrupted-up timings:\n  ${timings.join("\n  ")}\n`,
        );
    });

    it("a new stack's first pulumi up, at lockdown (Istio installed with it when in the loop)", async () => {
        const { checks, stack, timings } = suite;
        await setStage(suite, "lockdown");
        const t = Date.now();
        const outputs = await stack!.up((line) => log(line));
        timings.push(`up (new stack) -> lockdown ${Date.now() - t} ms`);
        await checks.checkAfterUp("(new stack) -> lockdown", "lockdown", 0, outputs);
        assert.equal(checks.uids.size, 2, "the votes' two volumes are recorded");
    });

    SCENARIOS.forEach((scenario, i) => {
        const run = newScenarioRun(scenario, i);
        if (scenario.interruption === "kube-apiserver restarted half-way") apiServerRestartTest(suite, run);
        else {
            killedUpTest(suite, run);
            cancelAloneControlTest(suite, run);
        }
        recoveryTest(suite, run);
    });

    it("controls: at least one interruption left a pending create of an object the API server held (the create pulumi up alone would repeat)", () => {
        assert.ok(suite.createsOfHeldObjects > 0, `no interruption did:\n${suite.left.join("\n")}`);
    });
});
