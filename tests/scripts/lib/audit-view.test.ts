import { expect, test } from "bun:test";
import { describeEntry } from "../../../scripts/lib/audit-view.ts";
import type { AuditEntry } from "../../../server/shared/state/audit.ts";

const entry = (kind: string, old: unknown, now: unknown): AuditEntry => ({
  id: "1-0",
  kind,
  target: "t",
  actor: "ann",
  at: "2026-12-05T10:00:00.000Z",
  old: old === "" ? "" : JSON.stringify(old),
  new: now === "" ? "" : JSON.stringify(now),
});
const canary = (extra: object) => ({
  weight: 30,
  state: "active",
  reason: "",
  generation: "abc",
  ...extra,
});
const flag = (enabled: boolean, rollout: number) => ({
  name: "f",
  enabled,
  rollout,
  version: 1,
  updatedAt: "x",
  updatedBy: "ann",
});

test("flags: from what to what, made and removed", () => {
  expect(describeEntry(entry("flag", "", flag(true, 100)))).toBe("new → on");
  expect(describeEntry(entry("flag", flag(true, 100), flag(true, 10)))).toBe("on → on for 10%");
  expect(describeEntry(entry("flag", flag(false, 100), ""))).toBe("off → removed");
});

test("the canary: each thing that changed, or that nothing did", () => {
  expect(describeEntry(entry("canary", canary({}), canary({ weight: 50 })))).toBe(
    "weight 30% → 50%",
  );
  expect(
    describeEntry(
      entry(
        "canary",
        canary({ state: "aborted", reason: "by bob" }),
        canary({ reason: "resumed by ann" }),
      ),
    ),
  ).toBe("active (resumed by ann)");
  const stepped = {
    steps: [{ weight: 30, for: 1 }, { weight: 60 }],
    step: 0,
    stepState: "running",
  };
  expect(
    describeEntry(
      entry("canary", canary(stepped), canary({ ...stepped, stepState: "held", weight: 45 })),
    ),
  ).toBe("weight 30% → 45%, steps held");
  expect(
    describeEntry(
      entry(
        "canary",
        canary({ ...stepped, step: 1, weight: 60 }),
        canary({ ...stepped, step: 1, weight: 60, stepState: "done" }),
      ),
    ),
  ).toBe("steps done");
  expect(describeEntry(entry("canary", canary({}), canary({})))).toBe("unchanged");
  expect(describeEntry(entry("canary", "", canary({ generation: "def", state: "aborted" })))).toBe(
    "new canary def at 30%, aborted",
  );
});

test("maintenance on and off; an action's own words; an unknown change as it was stored", () => {
  const on = { on: true, message: "Back soon", since: "x", by: "ann" };
  expect(describeEntry(entry("maintenance", "", on))).toBe("on: Back soon");
  expect(describeEntry(entry("maintenance", on, { ...on, on: false }))).toBe("off");
  expect(describeEntry({ ...entry("exec", "", ""), new: "uptime on web-1" })).toBe(
    "uptime on web-1",
  );
  expect(describeEntry({ ...entry("other", "", ""), old: "a", new: "b" })).toBe("a → b");
});
