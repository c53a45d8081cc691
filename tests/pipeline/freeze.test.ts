import { expect, test } from "bun:test";
import { existsSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  describeFreeze,
  FREEZE_REASON_MAX,
  freezeReasonFault,
  freezeRefusal,
  readFreeze,
  refuseWhileFrozen,
  writeFreeze,
} from "../../pipeline/freeze.ts";
import { tempDir } from "../helpers/tmp.ts";

const freeze = { by: "ann", since: "2026-12-05T07:00:00.000Z", reason: "incident 42: payments" };

test("a freeze needs a one-line reason of a sensible length", () => {
  expect(freezeReasonFault("incident 42: payments")).toBeUndefined();
  expect(freezeReasonFault("  ")).toBe(
    "say why deploys are frozen: bun run freeze on REASON (it is shown to whoever pushes)",
  );
  expect(freezeReasonFault("x".repeat(FREEZE_REASON_MAX + 1))).toBe(
    `the reason has ${FREEZE_REASON_MAX + 1} characters; keep it to ${FREEZE_REASON_MAX}`,
  );
  expect(freezeReasonFault("one\ntwo")).toContain("control character");
});

test("the refusal says who froze deploys, since when, why, and how to lift it", () => {
  expect(freezeRefusal(undefined)).toBeUndefined();
  expect(freezeRefusal(freeze)).toBe(
    "deploys are frozen since 2026-12-05T07:00:00.000Z by ann: “incident 42: payments” — bun run freeze off lifts it (rollbacks still go)",
  );
  expect(describeFreeze(undefined)).toBe("not frozen: pushes and deploys ship");
  expect(describeFreeze(freeze)).toStartWith(
    "frozen since 2026-12-05T07:00:00.000Z by ann: “incident 42: payments” — ",
  );
});

test("on and off in the work folder; a file that cannot be read refuses, naming itself", () => {
  const dir = tempDir("dropship-freeze-");
  const work = join(dir, "work");
  expect(readFreeze(work)).toBeUndefined();
  expect(() => refuseWhileFrozen(work)).not.toThrow();
  writeFreeze(work, freeze);
  expect(readFreeze(work)).toEqual(freeze);
  expect(statSync(join(work, "freeze.json")).mode & 0o777).toBe(0o600);
  expect(() => refuseWhileFrozen(work)).toThrow(freezeRefusal(freeze) as string);
  writeFreeze(work, undefined);
  expect(existsSync(join(work, "freeze.json"))).toBe(false);
  expect(() => refuseWhileFrozen(work)).not.toThrow();
  // off twice is no fault
  writeFreeze(work, undefined);

  for (const damaged of ['{"by":', '{"by":"ann"}', "[]"]) {
    writeFileSync(join(work, "freeze.json"), damaged);
    expect(() => refuseWhileFrozen(work)).toThrow(
      `${join(work, "freeze.json")} cannot be read (it is not a freeze's JSON); bun run freeze off removes it`,
    );
  }
});
