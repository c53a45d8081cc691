import { expect, test } from "bun:test";
import { resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");
const ignored = (path: string) =>
  Bun.spawnSync(["git", "-C", ROOT, "check-ignore", "-q", "--no-index", path]).exitCode === 0;

test("a lock file a push needs is never ignored; secrets and local state are", () => {
  for (const lock of ["bun.lock", "bun.lockb", "package-lock.json"])
    expect(ignored(lock)).toBe(false);
  for (const local of [".env", ".env.production", ".dropship/fleet.env", "node_modules"]) {
    expect(ignored(local)).toBe(true);
  }
});
