import { expect, test } from "bun:test";
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { recordPass, reusableRelease } from "../../pipeline/passed.ts";
import { tempDir } from "../helpers/tmp.ts";

const COMMIT = "a".repeat(40);
const TEST = "bun run test:unit";

test("a build that passed with the same test is promoted; another test, commit or a changed file is not", async () => {
  const dir = tempDir();
  const files = ["dropship-app", "dropship-proxy"].map((name) => join(dir, name));
  for (const file of files) writeFileSync(file, `the binary ${file}\n`.repeat(1000));
  expect(await reusableRelease(dir, COMMIT, TEST)).toBeUndefined();
  await recordPass(dir, COMMIT, TEST, files);
  const at = await reusableRelease(dir, COMMIT, TEST);
  expect(at).toMatch(/^\d{4}-\d\d-\d\dT.*Z$/);
  expect(await reusableRelease(dir, COMMIT, "bun test")).toBeUndefined();
  expect(await reusableRelease(dir, "b".repeat(40), TEST)).toBeUndefined();
  // a second test command passed for the same files: both are kept
  await recordPass(dir, COMMIT, "bun test", files);
  expect(await reusableRelease(dir, COMMIT, TEST)).toBe(at);
  expect(await reusableRelease(dir, COMMIT, "bun test")).toBeTruthy();
  // a kept file changed since (a copy cut short, a hand at work): the gate runs again
  appendFileSync(files[0] as string, "more");
  expect(await reusableRelease(dir, COMMIT, TEST)).toBeUndefined();
});

test("a record that is not one dropship wrote, or names no file, promotes nothing", async () => {
  const dir = tempDir();
  writeFileSync(join(dir, "dropship-app"), "x");
  for (const record of [
    "not json",
    JSON.stringify({ commit: COMMIT, tests: [{ command: TEST, at: "2026-01-01T00:00:00Z" }] }),
    JSON.stringify({
      commit: COMMIT,
      tests: [{ command: TEST, at: "2026-01-01T00:00:00Z" }],
      files: {},
    }),
    JSON.stringify({
      commit: COMMIT,
      tests: [{ command: TEST, at: "2026-01-01T00:00:00Z" }],
      files: { "dropship-app": "not a digest" },
    }),
  ]) {
    writeFileSync(join(dir, "PASSED"), record);
    expect(await reusableRelease(dir, COMMIT, TEST)).toBeUndefined();
  }
  // a gate whose build made no file records a pass that promotes nothing
  await recordPass(dir, COMMIT, TEST, []);
  expect(await reusableRelease(dir, COMMIT, TEST)).toBeUndefined();
  expect(JSON.parse(readFileSync(join(dir, "PASSED"), "utf8")).commit).toBe(COMMIT);
});
