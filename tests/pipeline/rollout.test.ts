import { expect, test } from "bun:test";
import { rollbackGoal } from "../../pipeline/rollout.ts";

test("a role goes back to the last release that went live before the one it runs, as the first host with one says", () => {
  const original = { current: "r3", all: ["r3", "r2", "r1"], live: ["r1", "r2", "r3"] };
  // a host a scale-out added after r3 went live: only r3, and nothing before it
  const added = { current: "r3", all: ["r3"], live: ["r3"] };
  expect(rollbackGoal([added, original])).toBe("r2");
  expect(rollbackGoal([original, added])).toBe("r2");
  // a release that went live but is no longer kept on the host is skipped
  expect(rollbackGoal([{ current: "r3", all: ["r3", "r1"], live: ["r1", "r2", "r3"] }])).toBe("r1");
  // after a rollback to r2 the next goes forward to r3 again, as Heroku's does
  expect(rollbackGoal([{ ...original, current: "r2" }])).toBe("r3");
  expect(rollbackGoal([added])).toBeUndefined();
  expect(rollbackGoal([])).toBeUndefined();
});
