import { strict as assert } from "assert";
import { changeOrder, planStage, STAGE_NAMES, STAGES } from "../stages/model";

describe("stage model", () => {
    it("five stages in order, numbered 1-5", () => {
        assert.deepEqual(
            STAGES.map((s) => [s.number, s.name]),
            STAGE_NAMES.map((n, i) => [i + 1, n]),
        );
    });

    it("every stage is either a superset or a subset of its neighbours (so one `pulumi up` can enter it)", () => {
        assert.deepEqual(STAGE_NAMES.map(changeOrder), ["contract", "expand", "contract", "expand", "contract"]);
    });

    it("subsets are what the routes use; weights split unflagged users in the canary only", () => {
        const canary = planStage("canary", { canaryWeight: 10 });
        assert.deepEqual(canary.subsets, {
            "voting-app": ["1.0", "2.0"],
            "voting-analytics": ["1.1", "2.0"],
            "voting-storage": ["1.0", "2.0"],
        });
        assert.deepEqual(canary.defaultAppWeights, { "1.0": 90, "2.0": 10 });
        assert.deepEqual(planStage("canary", { canaryWeight: 0 }).defaultAppWeights, { "1.0": 100 });
        assert.deepEqual(planStage("canary", { canaryWeight: 100 }).defaultAppWeights, { "2.0": 100 });
        assert.deepEqual(planStage("finalize", { canaryWeight: 40 }).defaultAppWeights, { "2.0": 100 });
        assert.deepEqual(planStage("update", { canaryWeight: 40 }).subsets, {
            "voting-app": [],
            "voting-analytics": [],
            "voting-storage": [],
        });
    });
});
