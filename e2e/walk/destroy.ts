/**
 * The end of the walk: `pulumi destroy` as users run it, refused for the votes while they are
 * protected (data.protect, the default), complete once they are not, Gateway API's CRDs left in the
 * cluster for other owners' routes.
 */
import { strict as assert } from "assert";
import { until } from "../clusterSetup";
import { log } from "../harness";
import { APP_NAMESPACE, PROJECT } from "../../stages/names";
import { WalkContext } from "./context";

/** The two destroys, in order: with the votes protected, then with data.protect=false applied. */
export function destroyTests(walk: WalkContext) {
    it("pulumi destroy while the votes are protected (the default) fails, and the namespace and both volumes stay", async () => {
        const before = await walk.checks.volumeUids();
        let error: Error | undefined;
        try {
            await walk.stack!.destroy((line) => log(line));
        } catch (err) {
            error = err as Error;
        }
        assert.ok(error, "destroy went through the protected volumes");
        assert.match(error.message, /protected/);
        assert.deepEqual(await walk.checks.volumeUids(), before, "a volume is gone or was re-created");
        assert.ok(
            await walk.kube.get("Namespace", undefined, APP_NAMESPACE),
            "the namespace (and with it the volumes) was deleted",
        );
    });

    it("with data.protect=false applied, pulumi destroy removes everything, the votes' volumes and the namespace too; Gateway API's CRDs stay (other owners' routes live on them)", async () => {
        await walk.stack!.stack.setConfig(`${PROJECT}:data.protect`, { value: "false" }, true);
        await walk.stack!.up((line) => log(line));
        const t = Date.now();
        await walk.stack!.destroy((line) => log(line));
        walk.timings.push(`destroy ${Date.now() - t} ms`);
        assert.deepEqual(Object.values(await walk.checks.volumeUids()).filter(Boolean), []);
        await until(`the namespace ${APP_NAMESPACE} to be gone`, 120, async () =>
            (await walk.kube.get("Namespace", undefined, APP_NAMESPACE)) ? undefined : true,
        );
        await walk.checks.checkChannelKept("after destroy");
    });
}
